"""Template filters of the office pages: Buddhist-era dates in Thai, Common Era in English."""

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from core.thai import format_thai_datetime

register = template.Library()


@register.filter
def thai_date(moment) -> str:
    if not moment:
        return ""
    if isinstance(moment, str):
        moment = parse_datetime(moment)
        if moment is None:
            return ""
    if (get_language() or "th").startswith("th"):
        return format_thai_datetime(moment, era="BE")
    return date_format(timezone.localtime(moment) if timezone.is_aware(moment) else moment, "j M Y, H:i")


ACTION_LABELS = {
    "document.created": _("Sent for approval"),
    "document.approved": _("Approved"),
    "document.rejected": _("Rejected"),
    "document.returned": _("Returned for revision"),
    "document.resubmitted": _("Revised and sent again"),
    "document.recalled": _("Recalled"),
    "document.cancelled": _("Cancelled"),
    "document.completed": _("Completed"),
    "document.archived": _("Archive copy made"),
    "document.timestamp_renewal": _("Timestamp renewed"),
    "route.tier_opened": _("Step opened"),
    "route.tier_completed": _("Step completed"),
    "route.round_started": _("New round started"),
    "route.reminder_sent": _("Reminder sent"),
    "route.escalated": _("Escalated"),
    "assignment.reassigned": _("Seat reassigned"),
    "signing.signature_made": _("Signature added"),
    "signing.waiting": _("Signing waits"),
    "signing.failed": _("Signing failed"),
    "signing.retry_requested": _("Signing retried"),
    "signing.document_timestamped": _("Document timestamp added"),
    "document.verified": _("Verified"),
    "document.encrypted": _("Encrypted copy made"),
    "assignment.reopened": _("Approval reopened: the signature failed"),
    "assignment.withdrawn": _("Approval withdrawn: the route ended before the signature"),
}


@register.simple_tag
def action_label(action: str) -> str:
    # An event this page has no words for yet is still shown, but never as a raw code.
    return str(ACTION_LABELS.get(action, _("Other event")))


STATUS_LABELS = {
    "pending": _("waiting"),
    "active": _("in progress"),
    "completed": _("done"),
    "closed": _("closed"),
    "approved": _("approved, signing"),
    "signed": _("signed"),
    "rejected": _("rejected"),
    "not_needed": _("not needed"),
    "returned": _("returned"),
    "cancelled": _("cancelled"),
    "entire_file": _("the whole file"),
    "entire_revision": _("its revision"),
    "partial": _("part of the file"),
    "none": _("no changes"),
    "form_filling": _("form filling"),
    "annotations": _("annotations"),
    "other": _("other changes"),
}


@register.filter
def status_label(value: str) -> str:
    return str(STATUS_LABELS.get(value, value))


DOCUMENT_STATUS_LABELS = {
    "in_progress": _("in progress"),
    "completed": _("completed"),
    "rejected": _("not approved"),
    "returned": _("returned for revision"),
    "recalled": _("recalled"),
    "cancelled": _("cancelled"),
}


@register.filter
def document_status(value: str) -> str:
    """One label per document status in the page's language (the model's labels are bilingual)."""
    return str(DOCUMENT_STATUS_LABELS.get(value, value))


CERTIFICATE_STATUS_LABELS = {
    "awaiting_issuance": _("awaiting issuance"),
    "pending_acceptance": _("waiting for you to accept the agreement"),
    "active": _("active"),
    "expired": _("expired"),
    "revoked": _("revoked"),
    "superseded": _("superseded"),
}
DEVICE_KINDS = {
    "totp": _("Authenticator app"),
    "email": _("E-mail"),
    "sms": "SMS",
    "backup": _("Backup codes"),
    "webauthn": _("Passkey"),
    "other": _("Other"),
}


@register.filter
def certificate_status(value: str) -> str:
    return str(CERTIFICATE_STATUS_LABELS.get(value, value))


@register.filter
def device_kind(value: str) -> str:
    return str(DEVICE_KINDS.get(value, value))


VERSION_KINDS = {
    "original": _("original"),
    "revision": _("revised by the requester"),
    "signed": _("signed"),
    "timestamped": _("document timestamp"),
    "archive": _("PDF/A-3 archive copy"),
}


@register.filter
def version_kind(value: str) -> str:
    return str(VERSION_KINDS.get(value, value))


@register.filter
def person(username: str, names: dict) -> str:
    """A participant's Thai name in place of their username (the audit log stores usernames)."""
    return names.get(username, username) if username else ""
