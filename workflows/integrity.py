"""Which version a decision is about: what the signer saw, and what a signature may still be added to.

A decision names the version its signer had in front of them. That version stays "the same document"
while everything stored after it is a signature dsign made (a version written by a finished signing job
of this document, which appends an incremental update); any other version (a resubmitted revision, a
document timestamp, anything not made by a job) makes it stale.
"""

from __future__ import annotations

from signing.models import JobKind, JobStatus, SigningJob

from .models import Document, DocumentVersion
from .selectors import SIGNING_HANDLER

__all__ = ["signatures_only_since", "version_current", "version_named"]


def _versions(document: Document):
    return DocumentVersion.objects.filter(document=document).exclude(kind=DocumentVersion.Kind.ARCHIVE)


def version_current(document: Document) -> DocumentVersion:
    return _versions(document).order_by("-number").first()


def signatures_only_since(*, document: Document, version: DocumentVersion) -> bool:
    """True when every version after `version` is a signature made by a finished dsign signing job."""
    later = list(_versions(document).filter(number__gt=version.number).values_list("kind", "signing_job_id", "sha256"))
    if not later:
        return True
    made_here = dict(
        SigningJob.objects.filter(
            pk__in=[job_id for _, job_id, _ in later if job_id],
            handler=SIGNING_HANDLER,
            subject_id=document.pk,
            kind=JobKind.SIGNATURE,
            status=JobStatus.DONE,
        ).values_list("pk", "result_sha256")
    )
    return all(kind == DocumentVersion.Kind.SIGNED and made_here.get(job_id) == sha for kind, job_id, sha in later)


def version_named(*, document: Document, sha256: str) -> DocumentVersion | None:
    """The version with this SHA-256 if a signer who saw it still approves the current document, else None."""
    version = _versions(document).filter(sha256=(sha256 or "").strip().lower()).order_by("-number").first()
    if version is None or not signatures_only_since(document=document, version=version):
        return None
    return version
