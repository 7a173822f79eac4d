import sys
from pathlib import Path

from django.core.management.base import BaseCommand

from dsign.backup import BackupError, backup_write


class Command(BaseCommand):
    help = (
        "Write a consistent, checksummed backup into DIR: the database (SQLite online backup or pg_dump), the "
        "stored files (or an S3 listing), the SoftHSM token, an audit export and manifest.json/SHA256SUMS. "
        "Secrets (SECRET_KEY, HSM PINs, passwords) are not included: keep them in the password safe."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="a new (or empty) directory")

    def handle(self, *args, out, **options):
        try:
            manifest = backup_write(out=Path(out))
        except BackupError as exc:
            sys.stderr.write(f"backup not written: {exc}\n")
            sys.exit(1)
        self.stdout.write(
            f"backup written to {out}: {manifest['database']['engine']} database, {manifest['documents']} documents, "
            f"{manifest['media']['count']} stored files ({manifest['media']['mode']}), HSM {manifest['hsm']['mode']}, "
            f"{manifest['audit']['events']} audit events, {len(manifest['files'])} files checksummed"
        )
