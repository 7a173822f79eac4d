"""Document files: checking an upload, storing versions, the archive copy and timestamp renewal."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from datetime import timedelta

import pikepdf
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.translation import gettext

import audit
from core import storage
from signing import services as signing_services
from signing.models import JobKind, PadesLevel

from ..errors import InvalidDocument
from ..models import Document, DocumentStatus, DocumentVersion
from ..selectors import SIGNING_HANDLER, latest_version
from .common import document_lock

ARCHIVE_RENEW_MARGIN = timedelta(days=90)


@dataclass(frozen=True)
class PdfInfo:
    pages: list[tuple[float, float]]


def pdf_clean(data: bytes) -> tuple[bytes, list[str]]:
    """The upload as dsign routes it (signing.normalise) and what was removed from it, in words.

    Called after `pdf_inspect` accepted the upload."""
    from signing.normalise import NormaliseRefused, pdf_normalise

    try:
        normalised = pdf_normalise(data)
    except NormaliseRefused as exc:
        raise InvalidDocument(str(exc)) from exc
    return normalised.data, normalised.removed


def final_file_valid(*, document: Document) -> bool:
    """Run the verifier on the file the document would complete with; if it is not valid, say why."""
    from django.utils.translation import gettext as _

    version = latest_version(document)
    data = storage.read_verified(storage=version.file.storage, name=version.file.name, sha256=version.sha256)
    problems = signing_services.final_file_problems(pdf=data)
    if not problems:
        return True
    reason = _("The signed file is not valid, so the document cannot be completed: %(why)s") % {
        "why": " ".join(problems)
    }
    Document.objects.filter(pk=document.pk).update(waiting_reason=reason[:300])
    document.waiting_reason = reason[:300]
    audit.record(
        action="document.completion_refused",
        target=document,
        details={"version": version.number, "problems": problems[:10]},
    )
    return False


def pdf_inspect(data: bytes) -> PdfInfo:
    """Check that `data` is a PDF we can route: readable, not encrypted, with pages."""
    if not data:
        raise InvalidDocument(gettext("The file is empty."))
    if len(data) > settings.MAX_UPLOAD_BYTES:
        raise InvalidDocument(
            gettext("The file is larger than %(mb)d MB.") % {"mb": settings.MAX_UPLOAD_BYTES // (1024 * 1024)}
        )
    if not data.lstrip()[:5].startswith(b"%PDF-"):
        raise InvalidDocument(gettext("The file is not a PDF."))
    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            if pdf.is_encrypted:
                raise InvalidDocument(gettext("The PDF is encrypted; upload it without a password."))
            pages = []
            for page in pdf.pages:
                x1, y1, x2, y2 = (float(v) for v in page.mediabox)
                pages.append((x2 - x1, y2 - y1))
    except pikepdf.PasswordError as exc:
        raise InvalidDocument(gettext("The PDF is encrypted; upload it without a password.")) from exc
    except InvalidDocument:
        raise
    except Exception as exc:  # pikepdf raises many types on broken files; all mean "cannot read it"
        raise InvalidDocument(gettext("The PDF is damaged and cannot be read.")) from exc
    if not pages:
        raise InvalidDocument(gettext("The PDF has no pages."))
    return PdfInfo(pages=pages)


def version_store(
    *, document: Document, data: bytes, kind: str, signing_job_id: int | None = None, number: int | None = None
) -> DocumentVersion:
    """Store the next version; `number` when the caller already read it under the document lock."""
    if number is None:
        number = (document.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    digest = hashlib.sha256(data).hexdigest()
    stored = storage.store(
        storage=default_storage, name=f"documents/{document.pk}/v{number}-{digest[:16]}.pdf", data=data
    )
    return DocumentVersion.objects.create(
        document=document,
        number=number,
        kind=kind,
        file=stored.name,
        sha256=stored.sha256,
        size=stored.size,
        signing_job_id=signing_job_id,
    )


def signing_record(*, document: Document) -> dict:
    """What the archive copy carries about how the document was approved and signed (services.evidence)."""
    from .evidence import document_facts

    return document_facts(document=document)


def _archive_bytes(*, pdf: bytes, record: dict) -> bytes:
    from signing.archive import archive_copy_make as pdfa3_copy

    # Plain JSON types only (dates as ISO text), for both the JSON and the XML form of the record.
    return pdfa3_copy(pdf=pdf, record=json.loads(json.dumps(record, default=str)))


def archive_copy_make(*, document_id: int) -> DocumentVersion | None:
    """Store the archive copy of a completed document's latest version (idempotent)."""
    from ..signing_handler import version_read

    document = Document.objects.select_related("template", "requester").get(pk=document_id)
    if document.status != DocumentStatus.COMPLETED:
        return None
    source = latest_version(document)
    existing = document.versions.filter(kind=DocumentVersion.Kind.ARCHIVE, number__gt=source.number).first()
    if existing is not None:
        return existing
    data = _archive_bytes(pdf=version_read(source), record=signing_record(document=document))
    with transaction.atomic():
        document = document_lock(document)
        if latest_version(document).pk != source.pk:
            return None  # a newer version arrived meanwhile (timestamp renewal); the next run archives it
        existing = document.versions.filter(kind=DocumentVersion.Kind.ARCHIVE, number__gt=source.number).first()
        if existing is not None:
            return existing
        version = version_store(document=document, data=data, kind=DocumentVersion.Kind.ARCHIVE)
        audit.record(
            action="document.archived",
            target=document,
            details={"version": version.number, "source_version": source.number, "sha256": version.sha256},
        )
    return version


def _lta_renewal_needed(pdf: bytes) -> bool:
    from signing.archive import lta_renewal_needed

    return lta_renewal_needed(pdf=pdf, horizon_days=ARCHIVE_RENEW_MARGIN.days)


def archive_timestamp_renew(*, document_id: int) -> bool:
    """Queue a new document timestamp over a completed B-LTA document whose last one nears expiry."""
    from signing.models import JobStatus, SigningJob

    from ..signing_handler import version_read

    document = Document.objects.get(pk=document_id)
    if document.status != DocumentStatus.COMPLETED or document.pades_level != PadesLevel.B_LTA:
        return False
    if not _lta_renewal_needed(version_read(latest_version(document))):
        return False
    with transaction.atomic():
        document = document_lock(document)
        jobs = SigningJob.objects.filter(
            handler=SIGNING_HANDLER, subject_id=document.pk, field_name__startswith="DocTS_renew"
        )
        if jobs.exclude(status__in=[JobStatus.DONE, JobStatus.FAILED]).exists():
            return False
        job = signing_services.signing_job_create(
            handler=SIGNING_HANDLER,
            subject_id=document.pk,
            field_name=f"DocTS_renew{jobs.count() + 1}",
            level=PadesLevel.B_LTA,
            kind=JobKind.DOCUMENT_TIMESTAMP,
        )
        audit.record(action="document.timestamp_renewal", target=document, details={"job": job.pk})
    return True
