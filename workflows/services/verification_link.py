"""The public verification link of a document: its unguessable token, the QR stamp on the first version,
and what a stranger holding the paper copy may learn or check.

The token (128 random bits, never the id) is made when a route starts and stamped, as a QR code and a
short link, onto the version the route starts with (signing.qr_stamp), before any signature: the
signatures cover it. ``/v/<token>/`` then answers anyone, without signing in:

- only for a completed document; any other token (unknown, guessed, of a document still in progress,
  rejected or cancelled) is the same 404, so the page tells nothing about which documents exist;
- what the public verdict needs and no more: the verdict of dsign's verifier on the stored final file,
  the title, completion time, the final SHA-256, and each signature's signer name, position, tier and
  time (a classified document's title is not shown either). Never the body, comments, usernames, e-mail
  addresses, certificate details or the file itself;
- an uploaded copy is verified by the same verifier (its upload and admission limits) and compared,
  byte for byte through its SHA-256, with the stored final version (or its PDF/A-3 archive copy, which is
  the final version plus the signing record): "matches" only when it is one of those files.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.core.cache import cache

import audit
from core.errors import DomainError

from ..models import Assignment, AssignmentStatus, Document, DocumentStatus
from ..selectors import archive_version, latest_version

TOKEN_BYTES = 16
VERDICT_CACHE_SECONDS = 3600

__all__ = [
    "public_upload_compare",
    "public_view",
    "stored_verdict",
    "token_new",
    "verification_stamp",
    "verification_url",
]


def token_new() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def url_for(token: str) -> str:
    return f"{settings.BASE_URL}/v/{token}/"


def verification_url(document: Document) -> str | None:
    """The public link, shown once the document is completed (None before: the page would be a 404)."""
    if document.status != DocumentStatus.COMPLETED or not document.verification_token:
        return None
    return url_for(document.verification_token)


def verification_stamp(*, document: Document, pdf: bytes) -> bytes:
    """Give the document its token (once) and stamp its QR code and link on `pdf` (the first page)."""
    from signing.qr_stamp import StampRefused, qr_stamp

    from ..errors import InvalidDocument

    if not document.verification_token:
        document.verification_token = token_new()
        Document.objects.filter(pk=document.pk).update(verification_token=document.verification_token)
    try:
        return qr_stamp(pdf=pdf, url=url_for(document.verification_token))
    except StampRefused as exc:
        raise InvalidDocument(str(exc)) from exc


def _document_for(token: str) -> Document:
    document = None
    if token and len(token) <= 64:
        document = (
            Document.objects.filter(verification_token=token, status=DocumentStatus.COMPLETED)
            .select_related("template")
            .first()
        )
    if document is None:
        raise DomainError("No such document.", code="not_found", status=404)
    return document


def stored_verdict(version) -> dict:
    """dsign's verifier on the stored final file, kept per SHA-256 (the file never changes)."""
    from signing import services as signing_services
    from signing import verification

    from ..signing_handler import version_read

    key = f"public-verdict:{version.sha256}"
    verdict = cache.get(key)
    if verdict is None:
        try:
            report = signing_services._verify(data=version_read(version), lang="th")
            verdict = {
                "valid": bool(report["valid"]),
                "status": report.get("status", "valid" if report["valid"] else "invalid"),
                "signatures": [
                    {
                        "field": s.get("field"),
                        "valid": bool(s.get("valid")),
                        "timestamp": s.get("timestamp"),
                        "level": s.get("level"),
                    }
                    for s in report["signatures"]
                ],
            }
        except verification.UnreadablePDF:
            verdict = {"valid": False, "status": "invalid", "signatures": []}
        cache.set(key, verdict, VERDICT_CACHE_SECONDS)
    return verdict


def public_view(*, token: str) -> dict:
    """What the public page shows for a completed document's token; 404 ``not_found`` for any other."""
    document = _document_for(token)
    version = latest_version(document)
    verdict = stored_verdict(version)
    by_field = {s["field"]: s for s in verdict["signatures"]}
    signers = []
    seats = (
        Assignment.objects.filter(document=document, status=AssignmentStatus.SIGNED)
        .select_related("tier", "decided_by", "signer")
        .order_by("tier__round", "tier__order", "signed_at", "id")
    )
    for seat in seats:
        person = seat.decided_by or seat.signer
        checked = by_field.get(seat.field_name, {})
        signers.append(
            {
                "name": person.full_name_th or person.get_full_name() or "",
                "position": person.position or "",
                "tier": seat.tier.name,
                "signed_at": seat.signed_at,
                "valid": bool(checked.get("valid")),
                "on_behalf_of": (seat.signer.full_name_th if seat.decided_by_id not in (None, seat.signer_id) else ""),
            }
        )
    archived = archive_version(document)
    return {
        # a classified document (ลับ / ลับมาก / ลับที่สุด) keeps even its title from strangers
        "title": document.title if not document.confidentiality else None,
        "completed_at": document.completed_at,
        "sha256": version.sha256,
        "archive_sha256": archived.sha256 if archived else None,
        "valid": verdict["valid"],
        "status": verdict["status"],
        "signers": signers,
    }


def public_upload_compare(*, token: str, data: bytes) -> dict:
    """Verify an uploaded copy and say whether it is this document's final file.

    ``matches`` is true only when its SHA-256 is the stored final version's; the verifier's report on the
    copy itself is given either way (reduced to the verdict). Audited, with the outcome, never the bytes.
    """
    from signing import services as signing_services
    from signing import verification
    from signing.verification_sandbox import VerifierBusy

    document = _document_for(token)
    if not data:
        raise DomainError("Choose the PDF file to compare.", code="invalid")
    if len(data) > settings.MAX_UPLOAD_BYTES:
        raise DomainError("The file is too large to verify.", code="too_large", status=413)
    final = latest_version(document)
    archived = archive_version(document)
    digest = hashlib.sha256(data).hexdigest()
    try:
        report = signing_services.document_verify(data=data, lang="th", actor=None)
    except VerifierBusy as exc:
        raise DomainError(signing_services.verifier_busy_message(exc), code="verifier_busy", status=429) from exc
    except verification.UnreadablePDF as exc:
        raise DomainError("The file cannot be read as a PDF.", code="invalid") from exc
    matches = digest == final.sha256 or (archived is not None and digest == archived.sha256)
    audit.record(
        actor=None,
        action="document.public_compared",
        target=document,
        details={"matches": matches, "sha256": digest, "size": len(data), "valid": bool(report["valid"])},
    )
    return {
        "matches": matches,
        "sha256": digest,
        "final_sha256": final.sha256,
        "valid": bool(report["valid"]),
        "signatures": len(report["signatures"]),
    }
