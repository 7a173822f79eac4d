"""What signing needs to know about documents: the hooks named by SigningJob.handler.

Called by signing.services inside the transaction that makes the signature, with the document row
locked, so the check that the decision still stands, the new version, the assignment's "signed" mark
and the job's "done" mark commit together: a recall, cancellation, rejection or return either commits
before the check (and the job signs nothing) or waits for the signature to be stored.
"""

from __future__ import annotations

from django.utils import timezone

import audit
from accounts.models import User
from core.storage import StoredFileCorrupted, read_verified
from signing.models import JobKind, SigningJob
from signing.services import PermanentSigningError

from . import services, states
from .integrity import signatures_only_since, version_current
from .models import Assignment, AssignmentStatus, Document, DocumentStatus, DocumentVersion, TierStatus
from .selectors import current_assignments
from .signing_errors import failure_text


def lock_subject(subject_id: int) -> None:
    Document.objects.select_for_update().get(pk=subject_id)


def version_read(version: DocumentVersion) -> bytes:
    """The version's bytes, checked against the SHA-256 recorded when it was stored."""
    return read_verified(storage=version.file.storage, name=version.file.name, sha256=version.sha256)


def _latest_version(document_id: int) -> DocumentVersion:
    return version_current(Document(pk=document_id))


def latest_pdf(subject_id: int) -> bytes:
    return version_read(_latest_version(subject_id))


def _refuse(code: str, message: str):
    raise PermanentSigningError(code, message)


def pdf_to_sign(*, job: SigningJob) -> bytes:
    """The bytes `job` may sign, checked under the document lock; PermanentSigningError when none.

    A signature is made only while the route runs, for a seat still approved in the running round, over
    the version its signer approved — or that version followed only by signatures dsign made since
    (each a version stored by a finished signing job of this document, appended as incremental updates).
    """
    document = Document.objects.get(pk=job.subject_id)
    if job.kind == JobKind.DOCUMENT_TIMESTAMP:
        wanted = DocumentStatus.COMPLETED if job.field_name.startswith("DocTS_renew") else DocumentStatus.IN_PROGRESS
        if document.status != wanted:
            _refuse("route_ended", f"The document is {document.status}; no document timestamp is added.")
        return latest_pdf(document.pk)
    if document.status != DocumentStatus.IN_PROGRESS:
        _refuse("route_ended", f"The document is {document.status}; the approval no longer stands.")
    seat = Assignment.objects.select_related("tier").filter(signing_job_id=job.pk).first()
    if seat is None or seat.status != AssignmentStatus.APPROVED:
        _refuse("decision_withdrawn", "The approval this signature was for no longer stands.")
    if seat.tier.round != document.round or seat.tier.status != TierStatus.ACTIVE:
        _refuse("route_changed", "The route restarted after this approval; the tier must approve again.")
    approved = seat.approved_version
    if approved is None or approved.sha256 != seat.approved_sha256:
        _refuse("version_unknown", "The approval does not record which version the signer saw.")
    if not signatures_only_since(document=document, version=approved):
        _refuse("version_changed", "The document changed after the signer approved it; they must approve again.")
    latest = _latest_version(document.pk)
    data = version_read(latest)
    if latest.pk != approved.pk and not data.startswith(version_read(approved)):
        _refuse("version_changed", "The document changed after the signer approved it; they must approve again.")
    return data


def signature_fields(*, job: SigningJob) -> list[dict]:
    """Every seat's field of the running route: the first signature of a file creates them all (and
    certifies it), so no field is ever added after it (signing.pades, route_fields). A new round on the
    same file reuses these fields (services.round_start)."""
    seats = current_assignments(Document.objects.get(pk=job.subject_id)).order_by("tier__order", "pk")
    return [{"field": a.field_name, "page": a.page, "box": a.box} for a in seats]


def store_signed(*, job: SigningJob, pdf: bytes, sha256: str) -> None:
    document = Document.objects.select_related("template").get(pk=job.subject_id)
    kind = DocumentVersion.Kind.SIGNED if job.kind == JobKind.SIGNATURE else DocumentVersion.Kind.TIMESTAMPED
    services.version_store(document=document, data=pdf, kind=kind, signing_job_id=job.pk)
    if document.waiting_reason:
        Document.objects.filter(pk=document.pk).update(waiting_reason="")
        document.waiting_reason = ""
    if job.kind == JobKind.SIGNATURE:
        seat = Assignment.objects.select_for_update().select_related("tier").get(signing_job_id=job.pk)
        states.apply(states.ASSIGNMENT, seat, "sign", signed_at=timezone.now(), signing_error="", signing_error_code="")
        # Quorum counts signatures in the file: the tier may complete (and the next open) only now.
        services.tier_maybe_advance(document=document, tier=seat.tier)
    else:
        services.route_maybe_complete(document=document, finishing_job_id=job.pk)


def job_waiting(*, job: SigningJob) -> None:
    Document.objects.filter(pk=job.subject_id).update(waiting_reason=job.error_message[:300])


def job_failed(*, job: SigningJob) -> None:
    """A signature failed for good: its seat reopens (or is withdrawn when the route ended), and the
    signer and the IT admins are told why, in Thai. A failed document timestamp stops the route visibly
    (the document says why until an admin retries it)."""
    document = Document.objects.select_for_update().get(pk=job.subject_id)
    why = failure_text(code=job.error_code, message=job.error_message)
    seat = Assignment.objects.select_for_update().filter(signing_job_id=job.pk).select_related("tier").first()
    told: set[int] = set()
    reopened = False
    if seat is not None and seat.status == AssignmentStatus.APPROVED:
        running = (
            document.status == DocumentStatus.IN_PROGRESS
            and seat.tier.round == document.round
            and seat.tier.status == TierStatus.ACTIVE
        )
        told, reopened = {seat.signer_id, seat.decided_by_id}, running
        decided_by = seat.decided_by
        states.apply(
            states.ASSIGNMENT,
            seat,
            "reopen" if running else "cancel",
            signing_error=why[:500],
            signing_error_code=job.error_code[:64],
            **({"decided_by": None, "decided_at": None} if running else {}),
        )
        audit.record(
            action="assignment.reopened" if running else "assignment.withdrawn",
            target=document,
            outcome="failure",
            details={
                "assignment": seat.pk,
                "field": seat.field_name,
                "job": job.pk,
                "code": job.error_code,
                "reason": why,
                "decided_by": decided_by.username if decided_by else None,
            },
        )
    ended = document.status not in (DocumentStatus.IN_PROGRESS, DocumentStatus.COMPLETED)
    if (job.kind == JobKind.SIGNATURE and not reopened) or ended:
        return  # the route ended or restarted first (recall, cancel, reject, return): nothing is owed any more
    Document.objects.filter(pk=document.pk).update(waiting_reason=why[:300])
    recipients = {user.pk: user for user in [*User.objects.filter(pk__in=told - {None}), *services.it_admins()]}
    for user in recipients.values():
        services.notify(
            user=user, document=document, kind="signing_failed", message=f"ลงนามไม่สำเร็จ: {document.title} — {why}"
        )
    services.webhook_on_commit(document, "signature.failed", {"job": job.pk, "error": job.error_message})


def retry_refusal(*, job: SigningJob) -> str:
    """A failed signature whose seat reopened or was withdrawn: the decision is gone, so is the retry."""
    if job.kind != JobKind.SIGNATURE:
        return ""
    seat = Assignment.objects.filter(signing_job_id=job.pk).first()
    if seat is None or seat.status != AssignmentStatus.APPROVED:
        return "The approval behind this signature was withdrawn when it failed; the signer approves again instead."
    return ""


__all__ = [
    "lock_subject",
    "latest_pdf",
    "pdf_to_sign",
    "signature_fields",
    "store_signed",
    "job_waiting",
    "job_failed",
    "retry_refusal",
    "version_read",
    "StoredFileCorrupted",
]
