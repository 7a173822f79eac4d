"""The monthly report's e-mail goes through the mail ledger; its outcome is audited on the report's month."""

from __future__ import annotations

from django.db import transaction
from django.dispatch import receiver

import audit
from mailer.models import EmailStatus
from mailer.signals import email_attempted

MONTHLY_EMAIL_KIND = "reports.monthly"


@receiver(email_attempted)
def _monthly_email_attempted(*, email, status, error, **_) -> None:
    if email.kind != MONTHLY_EMAIL_KIND or status not in (EmailStatus.SENT, EmailStatus.FAILED):
        return
    label = email.ref.rpartition(":")[2]
    details = {"to": email.to, "email_id": email.pk}
    with transaction.atomic():
        if status == EmailStatus.SENT:
            audit.record(action="reports.monthly_sent", target=("reports.monthly", label), details=details)
        else:
            audit.record(
                action="reports.monthly_failed",
                target=("reports.monthly", label),
                outcome="failure",
                details={**details, "message": error[:500]},
            )
