import sys
from pathlib import Path

from django.core.management.base import BaseCommand

from dsign.backup import BackupError, backup_restore


class Command(BaseCommand):
    help = (
        "Restore a backup written by `manage.py backup` into an empty database, document storage and SoftHSM token "
        "directory (refused otherwise). Every file is checked against its SHA-256 first. Set the same SECRET_KEY "
        "and HSM PINs as the original installation."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("source", help="the backup directory")

    def handle(self, *args, source, **options):
        try:
            report = backup_restore(source=Path(source))
        except BackupError as exc:
            sys.stderr.write(f"not restored: {exc}\n")
            sys.exit(1)
        self.stdout.write(
            f"restored {report.documents} documents, {report.files} stored files, "
            f"{'the SoftHSM token' if report.token_copied else 'no token (network HSM: restore it there)'}, "
            f"{report.audit_events} audit events; next: manage.py audit_verify, then start web and workers"
        )
