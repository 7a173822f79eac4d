"""Backup and restore of a whole installation: database, stored files, the SoftHSM token, audit exports.

A backup directory holds
    manifest.json        what was taken, from where, and the SHA-256 of every file below
    SHA256SUMS           the same digests for `sha256sum -c`
    database/            dsign.sqlite3 (SQLite online backup API) or dsign.pgdump (pg_dump -Fc)
    media/               the stored files (file storage); with S3, media-listing.json lists the bucket
    softhsm/tokens/      the SoftHSM token directory (keys stay encrypted under the user PIN)
    audit/               a full export of the audit chain (JSON Lines) and the stored audit exports
    NETWORK-HSM.txt      with a network HSM instead of the token copy: what to back up there

Consistency: the database is copied first, everything else after. Keys are created in the token and
files are stored before the rows that name them commit, so every key and file the copied database
refers to is already there when the token and the files are copied afterwards.

Not in the backup, by design: SECRET_KEY, the HSM PINs, database and S3 passwords. They belong in
the organisation's password safe; the manifest names which ones a restore needs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone

FORMAT = "dsign-backup/1"
SECRETS_NEEDED = ["SECRET_KEY", "HSM_PIN", "HSM_SO_PIN", "database password", "S3 keys (if S3 is used)"]
_SKIP_MEDIA_PREFIXES = ("health/",)


class BackupError(Exception):
    """A backup or restore that cannot go on; the message is one line for the operator."""


@dataclass
class RestoreReport:
    documents: int
    files: int
    token_copied: bool
    audit_events: int


# --- helpers ------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _pg_env() -> dict[str, str]:
    """libpq variables for pg_dump/pg_restore (the password never shows in the process list)."""
    s = connection.settings_dict
    env = {**os.environ, "PGDATABASE": s["NAME"], "PGHOST": s.get("HOST") or "", "PGPORT": str(s.get("PORT") or "")}
    env.update(PGUSER=s.get("USER") or "", PGPASSWORD=s.get("PASSWORD") or "")
    return {k: v for k, v in env.items() if v != ""}


def _run(argv: list[str], env: dict[str, str]) -> None:
    if shutil.which(argv[0]) is None:
        raise BackupError(f"{argv[0]} not found: install the PostgreSQL client (apt-get install postgresql-client)")
    result = subprocess.run(argv, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()
        raise BackupError(f"{argv[0]} failed: {last[-1] if last else result.returncode}")


def softhsm_token_dir() -> Path | None:
    """The token directory named by SOFTHSM2_CONF; None with a network HSM."""
    if settings.PKCS11_MODULE != settings.SOFTHSM_MODULE:
        return None
    conf = Path(os.environ.get("SOFTHSM2_CONF", settings.SOFTHSM2_CONF))
    if not conf.exists():
        return None
    match = re.search(r"^\s*directories\.tokendir\s*=\s*(.+?)\s*$", conf.read_text(), re.MULTILINE)
    return Path(match.group(1)) if match else None


def _storage_is_local() -> bool:
    from django.core.files.storage import FileSystemStorage

    return isinstance(default_storage, FileSystemStorage)


def _storage_names(prefix: str = "") -> list[str]:
    """Every file name in the document storage under prefix (walks directories; works for S3 too)."""
    names, pending = [], [prefix.rstrip("/")]
    while pending:
        directory = pending.pop()
        try:
            dirs, files = default_storage.listdir(directory)
        except FileNotFoundError:
            continue
        base = f"{directory}/" if directory else ""
        pending.extend(base + d for d in dirs)
        names.extend(base + f for f in files)
    return sorted(n for n in names if not n.startswith(_SKIP_MEDIA_PREFIXES))


def _key_labels() -> list[str]:
    from certificates.models import Certificate, CertificateAuthority

    labels = list(CertificateAuthority.objects.values_list("key_label", flat=True))
    return sorted(labels + list(Certificate.objects.values_list("key_label", flat=True)))


def _audit_head() -> dict:
    from audit.models import ChainHead, Event

    head = ChainHead.objects.filter(pk=1).values("last_event_id", "last_hash").first() or {}
    return {"events": Event.objects.count(), **head}


# --- backup -------------------------------------------------------------------------------------


def backup_write(*, out: Path) -> dict:
    """Write a backup into `out` (created; must be empty) and return its manifest."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} is not empty; give a new directory")
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict = {"format": FORMAT, "created_at": timezone.now().isoformat(), "secrets_needed": SECRETS_NEEDED}
    # Taken before the copy: the restored chain must hold this event with this hash (later ones may follow).
    manifest["audit"] = _audit_head()

    # 1. The database, first (see the module docstring).
    (out / "database").mkdir()
    if connection.vendor == "sqlite":
        target = out / "database" / "dsign.sqlite3"
        source = sqlite3.connect(connection.settings_dict["NAME"])
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
    elif connection.vendor == "postgresql":
        target = out / "database" / "dsign.pgdump"
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={target}"], _pg_env())
    else:
        raise BackupError(f"cannot back up a {connection.vendor} database")
    from workflows.models import Document

    manifest["database"] = {"engine": connection.vendor, "file": str(target.relative_to(out))}
    manifest["documents"] = Document.objects.count()

    # 2. Stored files (document versions, archive copies, audit exports, logos).
    names = _storage_names()
    if _storage_is_local():
        for name in names:
            dest = out / "media" / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            with default_storage.open(name, "rb") as src, open(dest, "wb") as dst:
                shutil.copyfileobj(src, dst)
        manifest["media"] = {"mode": "files", "count": len(names)}
    else:
        listing = [{"name": n, "size": default_storage.size(n)} for n in names]
        (out / "media-listing.json").write_text(json.dumps(listing, indent=1))
        manifest["media"] = {"mode": "s3-listing", "count": len(names), "bucket": settings.S3_BUCKET}
        # Audit exports are small and are the only copy of pruned events: copy them even from S3.
        for name in (n for n in names if n.startswith("audit-exports/")):
            dest = out / "audit" / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            with default_storage.open(name, "rb") as src, open(dest, "wb") as dst:
                shutil.copyfileobj(src, dst)

    # 3. The HSM token.
    tokens = softhsm_token_dir()
    manifest["hsm"] = {"token_label": settings.HSM_TOKEN_LABEL, "key_labels": _key_labels()}
    if tokens is not None and tokens.is_dir():
        shutil.copytree(tokens, out / "softhsm" / "tokens", ignore=shutil.ignore_patterns("*.lock"))
        manifest["hsm"]["mode"] = "softhsm"
    else:
        manifest["hsm"]["mode"] = "network"
        (out / "NETWORK-HSM.txt").write_text(_network_hsm_note(manifest["hsm"]["key_labels"]))

    # 4. A full export of the audit chain as it is now (re-verifiable line by line on its own).
    from audit.models import Event
    from audit.services import events_export

    events_export(events=Event.objects.all(), out=out / "audit" / "events.jsonl.gz", timestamp=False)

    files = sorted(p for p in out.rglob("*") if p.is_file())
    manifest["files"] = {str(p.relative_to(out)): _sha256(p) for p in files}
    (out / "SHA256SUMS").write_text("".join(f"{d}  {n}\n" for n, d in manifest["files"].items()))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    return manifest


def _network_hsm_note(labels: list[str]) -> str:
    return (
        "ระบบนี้ใช้ HSM แบบเครือข่าย: กุญแจส่วนตัวไม่ออกจาก HSM จึงไม่อยู่ในชุดสำรองนี้\n"
        "สำรองพาร์ทิชัน/โทเคนด้วยเครื่องมือของผู้ผลิต (เช่น Luna Backup HSM หรือการโคลนพาร์ทิชัน)\n"
        "This installation uses a network HSM: private keys never leave it, so they are not in this backup.\n"
        "Back up the partition with the vendor's tools (backup HSM, partition cloning); it must hold these keys:\n"
        + "".join(f"  {label}\n" for label in labels)
    )


# --- restore ------------------------------------------------------------------------------------


def backup_check(*, source: Path) -> dict:
    """The manifest, after every listed file was found with its recorded SHA-256."""
    source = Path(source)
    try:
        manifest = json.loads((source / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{source} is not a dsign backup (manifest.json: {exc})") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"unknown backup format {manifest.get('format')!r}")
    for name, digest in manifest["files"].items():
        path = source / name
        if not path.is_file():
            raise BackupError(f"backup incomplete: {name} is missing")
        if _sha256(path) != digest:
            raise BackupError(f"backup damaged: {name} does not match its SHA-256")
    return manifest


def _refuse_unless_empty(manifest: dict) -> None:
    if connection.introspection.table_names():
        raise BackupError(f"the database {connection.settings_dict['NAME']} is not empty; restore needs an empty one")
    if _storage_names():
        raise BackupError("the document storage is not empty; restore needs an empty one")
    tokens = softhsm_token_dir()
    if manifest["hsm"]["mode"] == "softhsm" and tokens is not None and tokens.is_dir() and any(tokens.iterdir()):
        raise BackupError(f"the SoftHSM token directory {tokens} is not empty; restore needs an empty one")


def backup_restore(*, source: Path) -> RestoreReport:
    """Restore a checked backup into an empty database, storage and token directory."""
    from django.core.management import call_command

    from signing.setup import softhsm_config_ensure

    source = Path(source)
    manifest = backup_check(source=source)
    if manifest["database"]["engine"] != connection.vendor:
        raise BackupError(
            f"the backup holds a {manifest['database']['engine']} database; this installation uses {connection.vendor}"
        )
    if manifest["hsm"]["mode"] == "softhsm":
        softhsm_config_ensure()
    _refuse_unless_empty(manifest)

    dump = source / manifest["database"]["file"]
    if connection.vendor == "sqlite":
        connection.close()
        name = Path(connection.settings_dict["NAME"])
        name.parent.mkdir(parents=True, exist_ok=True)
        source_db, target_db = sqlite3.connect(dump), sqlite3.connect(name)
        try:
            source_db.backup(target_db)
        finally:
            target_db.close()
            source_db.close()
    else:
        connection.close()
        argv = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error"]
        _run([*argv, f"--dbname={connection.settings_dict['NAME']}", str(dump)], _pg_env())

    copied = 0
    media = source / "media"
    if media.is_dir():
        for path in sorted(p for p in media.rglob("*") if p.is_file()):
            name = str(path.relative_to(media))
            with open(path, "rb") as fh:
                saved = default_storage.save(name, File(fh))
            if saved != name:
                raise BackupError(f"the storage renamed {name} to {saved}; restore needs an empty storage")
            copied += 1
    exports = source / "audit" / "audit-exports"
    if exports.is_dir() and not media.is_dir():
        for path in sorted(p for p in exports.rglob("*") if p.is_file()):
            with open(path, "rb") as fh:
                default_storage.save(f"audit-exports/{path.relative_to(exports)}", File(fh))

    token_copied = False
    tokens = softhsm_token_dir()
    if manifest["hsm"]["mode"] == "softhsm" and tokens is not None:
        tokens.mkdir(parents=True, exist_ok=True)
        for entry in (source / "softhsm" / "tokens").iterdir():
            if entry.is_dir():
                shutil.copytree(entry, tokens / entry.name)
            else:
                shutil.copy2(entry, tokens / entry.name)
        token_copied = True

    # A backup of an older release gets this release's migrations.
    call_command("migrate", "--noinput", verbosity=0)
    from audit.models import Event

    head = _audit_head()
    last_id = manifest["audit"].get("last_event_id") or 0
    restored_hash = Event.objects.filter(pk=last_id).values_list("hash", flat=True).first()
    if last_id and restored_hash != manifest["audit"]["last_hash"]:
        raise BackupError(f"the restored audit chain lacks event #{last_id} as recorded in the manifest")
    return RestoreReport(
        documents=manifest["documents"], files=copied, token_copied=token_copied, audit_events=head["events"]
    )
