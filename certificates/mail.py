"""The certificate e-mails' outcomes from the mail ledger (mailer.signals.email_attempted): the subscriber
agreement's is audited on the certificate, an expiry warning's is written on its notice and audited.

Light on imports: connected in CertificatesConfig.ready(), so every process (web, workers) has it."""

from __future__ import annotations

from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

import audit
from mailer.models import EmailStatus
from mailer.signals import email_attempted

AGREEMENT_EMAIL_KIND = "certificates.agreement"
EXPIRY_EMAIL_KIND = "certificates.expiry"


def certificate_ref(certificate) -> str:
    return f"certificates.certificate:{certificate.pk}"


def notice_ref(notice) -> str:
    return f"certificates.expirynotice:{notice.pk}"


@receiver(email_attempted)
def _agreement_email_attempted(*, email, status, error, **_) -> None:
    """Audited on the certificate: sent, or failed for good (the officer can resend)."""
    if email.kind != AGREEMENT_EMAIL_KIND or status not in (EmailStatus.SENT, EmailStatus.FAILED):
        return
    from .models import Certificate

    cert = Certificate.objects.filter(pk=email.ref_id).first()
    if cert is None:
        return
    with transaction.atomic():
        if status == EmailStatus.SENT:
            audit.record(action="certificates.agreement_email_sent", target=cert, details={"to": email.to[0]})
        else:
            audit.record(
                action="certificates.agreement_email_failed",
                target=cert,
                outcome="failure",
                details={"to": email.to[0], "error": error[:500], "email_id": email.pk},
            )


@receiver(email_attempted)
def _expiry_email_attempted(*, email, status, error, **_) -> None:
    """On the notice: sent (audited once), or the last error (audited when it is final)."""
    if email.kind != EXPIRY_EMAIL_KIND:
        return
    from .models import ExpiryNotice

    notice = ExpiryNotice.objects.select_related("certificate").filter(pk=email.ref_id).first()
    if notice is None:
        return
    details = {"days_before": notice.days_before, "to": email.to, "bcc": email.bcc, "email_id": email.pk}
    with transaction.atomic():
        if status == EmailStatus.SENT:
            ExpiryNotice.objects.filter(pk=notice.pk).update(sent_at=timezone.now(), error="")
            audit.record(action="certificates.expiry_warning_sent", target=notice.certificate, details=details)
            return
        ExpiryNotice.objects.filter(pk=notice.pk).update(error=error)
        if status == EmailStatus.FAILED:
            audit.record(
                action="certificates.expiry_warning_failed",
                target=notice.certificate,
                outcome="failure",
                details={**details, "error": error},
            )
