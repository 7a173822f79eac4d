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
    "assignment.reopened": _("Approval reopened: the signature failed"),
    "assignment.withdrawn": _("Approval withdrawn: the route ended before the signature"),
}


@register.simple_tag
def action_label(action: str) -> str:
    return str(ACTION_LABELS.get(action, action))


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


@register.filter
def person(username: str, names: dict) -> str:
    """A participant's Thai name in place of their username (the audit log stores usernames)."""
    return names.get(username, username) if username else ""
