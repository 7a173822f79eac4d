"""What signing needs to know about documents: the hooks named by SigningJob.handler.

Called by signing.services inside the transaction that makes the signature, so the new version, the
assignment's "signed" mark and the job's "done" mark commit together.
"""

from __future__ import annotations

from django.utils import timezone

from core.storage import StoredFileCorrupted, read_verified
from signing.models import JobKind, SigningJob

from . import services, states
from .models import Assignment, Document, DocumentVersion


def lock_subject(subject_id: int) -> None:
    Document.objects.select_for_update().get(pk=subject_id)


def version_read(version: DocumentVersion) -> bytes:
    """The version's bytes, checked against the SHA-256 recorded when it was stored."""
    return read_verified(storage=version.file.storage, name=version.file.name, sha256=version.sha256)


def latest_pdf(subject_id: int) -> bytes:
    version = DocumentVersion.objects.filter(document_id=subject_id).exclude(kind=DocumentVersion.Kind.ARCHIVE)
    return version_read(version.order_by("-number").first())


def store_signed(*, job: SigningJob, pdf: bytes, sha256: str) -> None:
    document = Document.objects.select_related("template").get(pk=job.subject_id)
    kind = DocumentVersion.Kind.SIGNED if job.kind == JobKind.SIGNATURE else DocumentVersion.Kind.TIMESTAMPED
    services.version_store(document=document, data=pdf, kind=kind, signing_job_id=job.pk)
    if job.kind == JobKind.SIGNATURE:
        seat = Assignment.objects.select_for_update().get(signing_job_id=job.pk)
        states.apply(states.ASSIGNMENT, seat, "sign", signed_at=timezone.now())
    if document.waiting_reason:
        Document.objects.filter(pk=document.pk).update(waiting_reason="")
        document.waiting_reason = ""
    services.route_maybe_complete(document=document, finishing_job_id=job.pk)


def job_waiting(*, job: SigningJob) -> None:
    Document.objects.filter(pk=job.subject_id).update(waiting_reason=job.error_message[:300])


def job_failed(*, job: SigningJob) -> None:
    Document.objects.filter(pk=job.subject_id).update(waiting_reason=f"Signing failed: {job.error_message}"[:300])
    document = Document.objects.get(pk=job.subject_id)
    seat = Assignment.objects.filter(signing_job_id=job.pk).select_related("decided_by").first()
    if seat is not None and seat.decided_by is not None:
        services.notify(
            user=seat.decided_by,
            document=document,
            kind="signing_failed",
            message=f"ลงนามไม่สำเร็จ: {document.title} — {job.error_message[:200]}",
        )
    services.webhook_on_commit(document, "signature.failed", {"job": job.pk, "error": job.error_message})


__all__ = [
    "lock_subject",
    "latest_pdf",
    "store_signed",
    "job_waiting",
    "job_failed",
    "version_read",
    "StoredFileCorrupted",
]
