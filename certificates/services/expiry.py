"""Expiry: expiring certificates and the warnings before."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

import audit
from core.roles import CERTIFICATE_MANAGERS, role_holders_q
from mailer.selectors import email_in_flight
from mailer.services import email_queue

from ..mail import EXPIRY_EMAIL_KIND, notice_ref
from ..models import Certificate, CertificateStatus, ExpiryNotice
from .agreement import _branded_email
from .lifecycle import _TRANSITIONS, certificate_transition

# An "expired" notice is still sent this long after expiry (the task was down); older ones are history.
EXPIRED_NOTICE_GRACE = timedelta(days=30)


# --- expiry ---------------------------------------------------------------------------------------


def certificates_expire(*, now: datetime | None = None) -> int:
    """Mark certificates past not_after as expired (daily task). Each row its own small transaction."""
    now = now or timezone.now()
    due = Certificate.objects.filter(
        status__in=[CertificateStatus.ACTIVE, CertificateStatus.PENDING_ACCEPTANCE], not_after__lte=now
    ).values_list("pk", flat=True)
    count = 0
    for pk in list(due):
        with transaction.atomic():
            cert = Certificate.objects.select_for_update().get(pk=pk)
            if cert.status not in _TRANSITIONS["expire"][0]:
                continue
            certificate_transition(cert, "expire")
            audit.record(action="certificates.expired", target=cert, details={"not_after": cert.not_after})
            count += 1
    return count


def _threshold_for(days_left: int, thresholds: list[int]) -> int | None:
    """The most urgent warning due: the smallest threshold not below the days left."""
    due = [t for t in thresholds if t >= days_left]
    return min(due) if due else None


def _officer_emails(*, exclude: str = "") -> list[str]:
    from accounts.models import User

    users = (
        User.objects.filter(is_active=True).filter(role_holders_q(*CERTIFICATE_MANAGERS)).distinct().exclude(email="")
    )
    return sorted({u.email for u in users if u.email != exclude})


@dataclass
class ExpiryRun:
    queued: list[tuple[int, int]] = field(default_factory=list)  # handed to the mail ledger (it sends, retries)
    failed: list[tuple[int, int]] = field(default_factory=list)  # nobody to tell


def expiry_warnings_send(*, now: datetime | None = None, thresholds: list[int] | None = None) -> ExpiryRun:
    """E-mail the holder and the CA officers at each threshold (days before expiry), each exactly once.

    The notice row is written and claimed (once a day) before its e-mail is queued in the mail ledger, which
    sends and retries it; the outcome comes back to the notice (certificates.mail). An e-mail that
    failed for good is queued again on a later day while its warning is still the one due.
    """
    now = now or timezone.now()
    thresholds = sorted(set(settings.EXPIRY_WARNING_DAYS if thresholds is None else thresholds))
    run = ExpiryRun()
    if not thresholds:
        return run
    today = timezone.localdate(now)
    start_of_today = timezone.make_aware(datetime.combine(today, time.min), timezone.get_current_timezone())
    candidates = Certificate.objects.filter(
        status__in=[CertificateStatus.ACTIVE, CertificateStatus.PENDING_ACCEPTANCE, CertificateStatus.EXPIRED],
        not_after__lte=now + timedelta(days=max(thresholds) + 1),
        not_after__gt=now - EXPIRED_NOTICE_GRACE,
    ).select_related("user")
    for cert in candidates:
        days_left = (timezone.localdate(cert.not_after) - today).days
        threshold = _threshold_for(days_left, thresholds)
        if threshold is None:
            continue
        notice, _ = ExpiryNotice.objects.get_or_create(certificate=cert, days_before=threshold)
        if notice.sent_at is not None or email_in_flight(ref=notice_ref(notice)):
            continue
        claimed = (
            ExpiryNotice.objects.filter(pk=notice.pk, sent_at__isnull=True)
            .filter(Q(attempted_at__isnull=True) | Q(attempted_at__lt=start_of_today))
            .update(attempted_at=now, attempts=F("attempts") + 1)
        )
        if not claimed:
            continue
        with transaction.atomic():
            ok = _expiry_email_queue(cert=cert, notice=notice, days_left=days_left)
        (run.queued if ok else run.failed).append((cert.pk, threshold))
    return run


def _expiry_email_queue(*, cert: Certificate, notice: ExpiryNotice, days_left: int) -> bool:
    holder = cert.user.email
    officers = _officer_emails(exclude=holder)
    to, bcc = ([holder], officers) if holder else (officers, [])
    if days_left > 0:
        subject = f"dsign: ใบรับรองของท่านจะหมดอายุในอีก {days_left} วัน / your certificate expires in {days_left} days"
    elif days_left == 0:
        subject = "dsign: ใบรับรองของท่านหมดอายุวันนี้ / your certificate expires today"
    else:
        subject = "dsign: ใบรับรองของท่านหมดอายุแล้ว / your certificate has expired"
    details = {"days_before": notice.days_before, "days_left": days_left, "to": to, "bcc": bcc}
    if not to:
        error = "nobody to tell: the holder and the CA officers have no e-mail address"
        ExpiryNotice.objects.filter(pk=notice.pk).update(error=error)
        audit.record(
            action="certificates.expiry_warning_failed",
            target=cert,
            outcome="failure",
            details={**details, "error": error},
        )
        return False
    message = _branded_email(
        subject=subject,
        template="expiry_warning",
        context={"certificate": cert, "user": cert.user, "days_left": days_left},
        to=to,
        bcc=bcc,
    )
    email_queue(message=message, kind=EXPIRY_EMAIL_KIND, ref=notice_ref(notice))
    return True
