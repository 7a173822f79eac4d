"""Checking RFC 3161 anchor tokens, and keeping a copy of every anchor outside the database.

A token proves a chain head only when the configured TSA signed it (its CMS signature chains to
`TSA_CERTIFICATE`, or to the internal TSA's certificate when none is configured), its time is not before
the event it covers nor in the future, and its message imprint is SHA-256 of the head hash. Someone who
rewrites the database can still ask the TSA for fresh tokens over a rehashed chain, so each anchor is
also written, as it is made, to a target the database does not hold (`AUDIT_ANCHOR_EXPORT`: the file
storage, a file or syslog); `audit_verify --anchors-from` compares the chain with that copy.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import logging.handlers
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from asn1crypto import cms, pem, tsp, x509
from django.conf import settings
from django.utils import timezone

# The TSA's clock and ours may differ a little; more than this is a forged or misdated token.
CLOCK_SKEW = timedelta(minutes=5)
STORAGE_PREFIX = "audit-anchors/"


class AnchorExportFailed(Exception):
    """The anchor could not be written outside the database; nothing was anchored."""


@dataclass(frozen=True)
class ExportedAnchor:
    anchor_id: int
    event_id: int
    event_hash: str
    token: bytes
    source: str


def configured_tsa_certificates() -> list[x509.Certificate]:
    """The certificates a token must chain to: TSA_CERTIFICATE (PEM or DER, the TSA's own certificate
    or a CA above it), else the internal TSA's, which `ca_init` writes to INTERNAL_TSA_CERTIFICATE.

    Both are files: the trust is kept outside the database the anchors protect. ValueError when the
    configured file is unreadable.
    """
    path = Path(settings.TSA_CERTIFICATE or settings.INTERNAL_TSA_CERTIFICATE)
    if not settings.TSA_CERTIFICATE and not path.exists():
        return []
    try:
        data = path.read_bytes()
        if pem.detect(data):
            return [x509.Certificate.load(der) for _, _, der in pem.unarmor(data, multiple=True)]
        certificate = x509.Certificate.load(data)
        if certificate.native is None:  # parse now: a broken file is reported here, not deep in validation
            raise ValueError("empty certificate")
        return [certificate]
    except (OSError, ValueError) as exc:
        raise ValueError(f"the TSA certificate {path} cannot be read: {exc}") from exc


def _tst_info(token_der: bytes) -> tuple[cms.SignedData, tsp.TSTInfo]:
    info = cms.ContentInfo.load(token_der)
    signed_data = info["content"]
    tst = signed_data["encap_content_info"]["content"].parsed
    if not isinstance(tst, tsp.TSTInfo):
        raise ValueError("it does not hold a TSTInfo")
    return signed_data, tst


async def _signature_status(signed_data, *, trust, expected: bytes, moment: datetime):
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko_certvalidator import ValidationContext

    # Checked at the token's own time, so anchors stay verifiable after the TSA certificate expires.
    context = ValidationContext(
        trust_roots=trust, allow_fetching=False, revocation_mode="soft-fail", moment=moment, best_signature_time=moment
    )
    return await validate_tst_signed_data(signed_data, context, lambda algorithm: expected)


def token_problem(
    *, token_der: bytes, digest: bytes, not_before: datetime, trust: list[x509.Certificate], now=None
) -> str | None:
    """Why `token_der` does not prove `digest` existed by its time (None: it does)."""
    try:
        signed_data, tst = _tst_info(token_der)
        imprint = tst["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        hashed = imprint["hashed_message"].native
        gen_time = tst["gen_time"].native
    except Exception as exc:  # asn1crypto raises many types for malformed input
        return f"its timestamp token is unreadable ({exc})"
    if algorithm != "sha256" or hashed != digest:
        return "its timestamp token does not cover its hash"
    if not trust:
        return "no TSA certificate is configured to check its timestamp token against"
    if not len(signed_data["signer_infos"]):
        return "its timestamp token is not signed"
    try:
        moment = min(gen_time, now or timezone.now())
        status = asyncio.run(_signature_status(signed_data, trust=trust, expected=digest, moment=moment))
    except Exception as exc:  # pyHanko's validation errors, and malformed CMS structures
        return f"its timestamp token's signature does not verify ({exc})"
    if not (status.get("intact") and status.get("valid")):
        return "its timestamp token's signature does not verify"
    if status.get("trust_problem_indic") is not None:
        return "its timestamp token is not signed by the configured TSA"
    now = now or timezone.now()
    if gen_time < not_before - CLOCK_SKEW:
        return f"its timestamp token is dated {gen_time:%Y-%m-%d %H:%M}, before the event it covers"
    if gen_time > now + CLOCK_SKEW:
        return f"its timestamp token is dated in the future ({gen_time:%Y-%m-%d %H:%M})"
    return None


# --- export outside the database ------------------------------------------------------------------


def _targets() -> list[str]:
    value = getattr(settings, "AUDIT_ANCHOR_EXPORT", "storage")
    return [t.strip() for t in value.split(",") if t.strip()]


def anchor_line(*, anchor_id: int, event_id: int, event_hash: str, token: bytes, created_at: datetime) -> str:
    return json.dumps(
        {
            "anchor_id": anchor_id,
            "event_id": event_id,
            "event_hash": event_hash,
            "created_at": created_at.isoformat(),
            "token": base64.b64encode(token).decode("ascii"),
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def _append_private(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _syslog(target: str, line: str) -> None:
    parts = urlsplit(target)
    address = (parts.hostname, parts.port or 514) if parts.hostname else "/dev/log"
    handler = logging.handlers.SysLogHandler(address=address, facility=logging.handlers.SysLogHandler.LOG_AUTH)
    handler.append_nul = False
    try:
        handler.emit(logging.makeLogRecord({"msg": f"dsign-audit-anchor {line}", "levelno": logging.INFO}))
    finally:
        handler.close()


def anchor_export(*, anchor_id: int, event_id: int, event_hash: str, token: bytes, created_at: datetime) -> None:
    """Write one anchor to every configured target; AnchorExportFailed if any of them fails."""
    line = anchor_line(
        anchor_id=anchor_id, event_id=event_id, event_hash=event_hash, token=token, created_at=created_at
    )
    for target in _targets():
        try:
            if target == "storage":
                from django.core.files.base import ContentFile
                from django.core.files.storage import default_storage

                default_storage.save(f"{STORAGE_PREFIX}{event_id:012d}-{anchor_id}.json", ContentFile(line.encode()))
            elif target.startswith("file:"):
                _append_private(Path(target.removeprefix("file:")), line)
            elif target.startswith("syslog:"):
                _syslog(target, line)
            else:
                raise AnchorExportFailed(f"unknown AUDIT_ANCHOR_EXPORT target {target!r}")
        except OSError as exc:
            raise AnchorExportFailed(f"the anchor could not be written to {target}: {exc}") from exc


def _parse_line(text: str, source: str) -> ExportedAnchor | None:
    start = text.find("{")  # syslog lines carry a prefix before the JSON
    if start < 0:
        return None
    try:
        data = json.loads(text[start:])
        return ExportedAnchor(
            anchor_id=int(data["anchor_id"]),
            event_id=int(data["event_id"]),
            event_hash=str(data["event_hash"]),
            token=base64.b64decode(data["token"]),
            source=source,
        )
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{source}: not an exported anchor") from None


def anchors_load(*, source: str) -> list[ExportedAnchor]:
    """Anchors kept outside the database: `storage`, a directory of .json files, or a JSON Lines / syslog
    file. ValueError when the source cannot be read."""
    found: list[ExportedAnchor] = []
    if source == "storage":
        from django.core.files.storage import default_storage

        try:
            _, names = default_storage.listdir(STORAGE_PREFIX.rstrip("/"))
        except (FileNotFoundError, OSError):
            names = []
        for name in sorted(names):
            with default_storage.open(STORAGE_PREFIX + name) as fh:
                found.append(_parse_line(fh.read().decode(), f"storage:{name}"))
        return found
    path = Path(source)
    if path.is_dir():
        files = sorted(path.glob("*.json"))
    elif path.is_file():
        files = [path]
    else:
        raise ValueError(f"{source}: no such file or directory")
    for file in files:
        for number, text in enumerate(file.read_text(errors="replace").splitlines(), start=1):
            if "dsign-audit-anchor" in text or text.lstrip().startswith("{"):
                anchor = _parse_line(text, f"{file}:{number}")
                if anchor:
                    found.append(anchor)
    return found
