"""Template filters of the office pages: Buddhist-era dates in Thai, Common Era in English."""

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from signing.appearance import format_thai_datetime

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
}


@register.simple_tag
def action_label(action: str) -> str:
    return str(ACTION_LABELS.get(action, action))
