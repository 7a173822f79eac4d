"""django-q2 tasks of the workflow engine: thin, idempotent adapters around services (see dsign/schedules.py)."""

from __future__ import annotations

from signing.models import PadesLevel

from . import services
from .models import Document, DocumentStatus


def send_reminders() -> dict[str, int]:
    """Hourly: reminders at half the due time, escalation to IT admins when overdue (each once per tier)."""
    return services.reminders_send()


def make_archive_copy(document_id: int) -> int | None:
    """The archive copy of a completed document; returns the stored version number (None if not due)."""
    version = services.archive_copy_make(document_id=document_id)
    return version.number if version else None


def renew_archive_timestamps() -> int:
    """Daily: a new document timestamp on completed B-LTA documents whose last one nears expiry."""
    renewed = 0
    documents = Document.objects.filter(status=DocumentStatus.COMPLETED, pades_level=PadesLevel.B_LTA)
    for document_id in documents.values_list("pk", flat=True).iterator():
        renewed += services.archive_timestamp_renew(document_id=document_id)
    return renewed
