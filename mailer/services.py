"""Outgoing e-mail through a ledger: queue a message (a row, sent after commit by a task), send it, retry it.

`email_queue` stores what a caller built (subject, text, HTML, attachments, inline logo) and enqueues
`mailer.tasks.send_email` on commit, so no web request ever waits for an SMTP server. The task claims
the row with a conditional UPDATE (a task run twice sends once), sends with EMAIL_TIMEOUT, and records
the outcome: transient failures (timeouts, refused connections, 4xx replies) are retried with
exponential backoff by the one-minute sweeper, permanent ones (5xx, refused recipients, a malformed
message) fail at once. Failures show in admin and in the monthly report.
"""

from __future__ import annotations

import base64
import logging
import smtplib
import time
from datetime import timedelta
from email import encoders
from email.mime.base import MIMEBase

from django.core.mail import BadHeaderError, EmailMessage, EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from core.backoff import backoff
from core.ledger import ledger_due_ids

from .models import EmailStatus, OutgoingEmail
from .signals import email_attempted

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=2)
STALE_CLAIM = timedelta(minutes=10)
_SKIPPED_PART_HEADERS = {"content-type", "mime-version", "content-transfer-encoding"}


class PermanentEmailError(Exception):
    pass


def subject_clean(subject: str) -> str:
    """One line: a line break in a document title must not make the message unsendable (BadHeaderError)."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(subject))
    return " ".join(text.split())[:200]


def _parts_dump(message: EmailMessage) -> list[dict]:
    parts = []
    for attachment in message.attachments:
        if isinstance(attachment, MIMEBase):
            headers = [[k, v] for k, v in attachment.items() if k.lower() not in _SKIPPED_PART_HEADERS]
            content = attachment.get_payload(decode=True)
            parts.append({"headers": headers, "mimetype": attachment.get_content_type(), "content": content})
        else:
            filename, content, mimetype = attachment
            if isinstance(content, str):
                content = content.encode()
            parts.append({"filename": filename, "mimetype": mimetype, "content": content})
    for part in parts:
        part["content"] = base64.b64encode(part["content"]).decode()
    return parts


def email_queue(*, message: EmailMessage, kind: str, ref: str = "") -> OutgoingEmail | None:
    """Store the message and send it after commit (nothing is sent if the caller's transaction rolls back).

    `ref` names what the e-mail is about, for a receiver of `mailer.signals.email_attempted`."""
    recipients = [*message.to, *message.cc, *message.bcc]
    if not any(recipients):
        return None
    html = next((content for content, mimetype in getattr(message, "alternatives", []) if mimetype == "text/html"), "")
    row = OutgoingEmail.objects.create(
        kind=kind[:32],
        ref=ref[:64],
        from_email=message.from_email,
        to=[*message.to, *message.cc],
        bcc=list(message.bcc),
        subject=subject_clean(message.subject),
        body=message.body,
        html=html,
        parts=_parts_dump(message),
        mixed_subtype=getattr(message, "mixed_subtype", "mixed"),
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(lambda: email_enqueue(email_id=row.pk))
    return row


def email_enqueue(*, email_id: int) -> None:
    from django_q.tasks import async_task

    async_task("mailer.tasks.send_email", email_id, task_name=f"email-{email_id}-{time.time()}")


def email_build(*, email: OutgoingEmail) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=email.subject, body=email.body, from_email=email.from_email, to=email.to, bcc=email.bcc
    )
    if email.html:
        message.attach_alternative(email.html, "text/html")
    for part in email.parts:
        content = base64.b64decode(part["content"])
        if "headers" in part:
            maintype, subtype = part["mimetype"].split("/", 1)
            mime = MIMEBase(maintype, subtype)
            mime.set_payload(content)
            encoders.encode_base64(mime)
            for name, value in part["headers"]:
                mime[name] = value
            message.attach(mime)
        else:
            message.attach(part["filename"], content, part["mimetype"])
    message.mixed_subtype = email.mixed_subtype
    return message


def _classify(exc: Exception) -> tuple[bool, str]:
    """(permanent, message) of a failed send."""
    text = f"{type(exc).__name__}: {exc}"[:1000]
    if isinstance(exc, smtplib.SMTPRecipientsRefused | BadHeaderError | PermanentEmailError | ValueError):
        return True, text
    if isinstance(exc, smtplib.SMTPResponseException) and 500 <= exc.smtp_code < 600:
        return True, text
    return False, text  # timeouts, refused or dropped connections, 4xx replies


def _claim(email_id: int) -> bool:
    now = timezone.now()
    return (
        OutgoingEmail.objects.filter(
            pk=email_id, status__in=[EmailStatus.PENDING, EmailStatus.RETRYING], next_attempt_at__lte=now
        ).update(status=EmailStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1)
        == 1
    )


def email_send(*, email_id: int) -> str:
    """Send one queued e-mail if it is due and nobody else has it; returns its status afterwards."""
    if not _claim(email_id):
        return OutgoingEmail.objects.filter(pk=email_id).values_list("status", flat=True).first() or "missing"
    email = OutgoingEmail.objects.get(pk=email_id)
    try:
        email_build(email=email).send()
    except Exception as exc:
        permanent, error = _classify(exc)
    else:
        permanent, error = False, ""
    now = timezone.now()
    fields: dict = {"claimed_at": None, "last_error": error}
    if not error:
        fields.update(status=EmailStatus.SENT, sent_at=now, next_attempt_at=None)
    elif permanent or email.attempts >= MAX_ATTEMPTS:
        fields.update(status=EmailStatus.FAILED, next_attempt_at=None)
    else:
        fields.update(
            status=EmailStatus.RETRYING,
            next_attempt_at=now + backoff(email.attempts, base=BACKOFF_BASE, cap=BACKOFF_MAX),
        )
    if not OutgoingEmail.objects.filter(pk=email_id, status=EmailStatus.SENDING).update(**fields):
        return OutgoingEmail.objects.filter(pk=email_id).values_list("status", flat=True).first() or "missing"
    if error:
        logger.warning("e-mail %s (%s) attempt %s: %s", email_id, email.kind, email.attempts, error)
    for name, value in fields.items():
        setattr(email, name, value)
    # The row is the truth; a receiver that fails (its own record) is logged, not a reason to send again.
    for receiver, result in email_attempted.send_robust(
        sender=OutgoingEmail, email=email, status=fields["status"], error=error
    ):
        if isinstance(result, Exception):
            logger.error("e-mail %s: receiver %s failed: %r", email_id, receiver, result)
    return fields["status"]


def emails_due() -> list[int]:
    """E-mails whose task was lost or whose retry time came; claims abandoned by a dead worker are released."""
    return ledger_due_ids(OutgoingEmail, statuses=EmailStatus, stale_claim=STALE_CLAIM, limit=500)


def emails_retry(*, emails: QuerySet[OutgoingEmail]) -> int:
    """Admin action: send failed or waiting e-mails again now."""
    ids = list(emails.filter(status__in=[EmailStatus.FAILED, EmailStatus.RETRYING]).values_list("pk", flat=True))
    OutgoingEmail.objects.filter(pk__in=ids).update(status=EmailStatus.RETRYING, next_attempt_at=timezone.now())
    for email_id in ids:
        transaction.on_commit(lambda pk=email_id: email_enqueue(email_id=pk))
    return len(ids)
