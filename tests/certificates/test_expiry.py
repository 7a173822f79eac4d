"""Expiry: the daily task marks expired certificates and sends each warning once, on the right day."""

from __future__ import annotations

import email
import email.header
import socket
import struct
import zlib
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from django.core import mail
from django.test import TestCase
from django.utils import timezone

from audit.models import Event
from certificates import services, tasks
from certificates.models import CertificateStatus, ExpiryNotice
from mailer import services as mailer_services
from mailer import tasks as mailer_tasks
from mailer.models import EmailStatus, OutgoingEmail

pytestmark = [pytest.mark.hsm, pytest.mark.django_db]

THRESHOLDS = [60, 30, 7, 1, 0]


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0\xff\0\0"))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def holder(outsider):
    outsider.email = "outsider@dsign.example"
    outsider.save()
    return outsider


@pytest.fixture
def certificate(holder, personas):
    return services.certificate_issue(user=holder, actor=personas["admin"], validity_days=365, accept_now=True)


@pytest.fixture
def branded(settings, tmp_path):
    logo = tmp_path / "logo.png"
    logo.write_bytes(_png())
    settings.ORGANIZATION_LOGO = str(logo)
    settings.ORGANIZATION_NAME = "กรมทดสอบ Test Department"
    settings.EXPIRY_WARNING_DAYS = THRESHOLDS
    return logo


def _warn(**kwargs) -> services.ExpiryRun:
    """The daily run as in production: its e-mails leave the ledger after commit (tasks run at once here)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return services.expiry_warnings_send(**kwargs)


def _to_holder(holder) -> list:
    return [m for m in mail.outbox if holder.email in m.to]


def test_each_warning_is_sent_once_on_its_day_and_never_twice(certificate, holder, branded):
    assert certificate.not_after - certificate.not_before >= timedelta(days=365)
    expiry = certificate.not_after
    sent_on = {}
    for days_before in range(65, -4, -1):
        now = expiry - timedelta(days=days_before)
        mail.outbox.clear()
        services.certificates_expire(now=now)
        _warn(now=now)
        first = len(_to_holder(holder))
        # The same day again (the task ran twice): nothing new. Later that local day, not past midnight (the
        # certificate's time of day is the time the test run issued it).
        _warn(now=min(now + timedelta(hours=3), timezone.localtime(now).replace(hour=23, minute=59, second=59)))
        assert len(_to_holder(holder)) == first, days_before
        if first:
            sent_on[days_before] = _to_holder(holder)[0].subject
    assert sorted(sent_on, reverse=True) == THRESHOLDS
    assert "60 วัน" in sent_on[60] and "expires in 1 days" in sent_on[1] and "expires today" in sent_on[0]
    assert set(ExpiryNotice.objects.filter(certificate=certificate).values_list("days_before", flat=True)) == set(
        THRESHOLDS
    )
    certificate.refresh_from_db()
    assert certificate.status == CertificateStatus.EXPIRED
    assert Event.objects.filter(action="certificates.expired", target_id=str(certificate.pk)).count() == 1
    assert Event.objects.filter(action="certificates.expiry_warning_sent", target_id=str(certificate.pk)).count() == 5


def test_warning_goes_to_holder_and_officers_with_logo_and_organisation(certificate, holder, branded, personas):
    _warn(now=certificate.not_after - timedelta(days=30))
    (message,) = _to_holder(holder)
    assert message.to == [holder.email]
    assert personas["admin"].email in message.bcc and holder.email not in message.bcc
    html, kind = message.alternatives[0]
    assert kind == "text/html" and 'src="cid:logo"' in html and "กรมทดสอบ Test Department" in html
    assert "30" in message.body and certificate.serial_number in message.body
    parsed = email.message_from_bytes(message.message().as_bytes())
    images = [part for part in parsed.walk() if part.get_content_type() == "image/png"]
    assert len(images) == 1 and images[0]["Content-ID"] == "<logo>"
    assert images[0].get_payload(decode=True) == branded.read_bytes()


def test_without_a_logo_the_mail_has_no_image(certificate, holder, settings, tmp_path):
    settings.ORGANIZATION_LOGO = str(tmp_path / "missing.png")
    _warn(now=certificate.not_after - timedelta(days=7), thresholds=THRESHOLDS)
    (message,) = _to_holder(holder)
    assert "cid:logo" not in message.alternatives[0][0] and not message.attachments


def test_failed_send_is_retried_by_the_ledger_recorded_and_queued_again_on_a_later_day(
    certificate, holder, branded, settings
):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port, 2
    day = certificate.not_after - timedelta(days=7)
    run = _warn(now=day)
    assert run.queued == [(certificate.pk, 7)] and not run.failed
    notice = ExpiryNotice.objects.get(certificate=certificate, days_before=7)
    row = OutgoingEmail.objects.get(ref=f"certificates.expirynotice:{notice.pk}")
    assert row.status == EmailStatus.RETRYING and row.attempts == 1  # connection refused: transient
    notice.refresh_from_db()
    assert notice.sent_at is None and "refused" in notice.error.lower() and notice.attempts == 1
    # Same day, and the next day while the ledger still retries it: no second e-mail queued.
    assert _warn(now=day + timedelta(hours=1)).queued == []
    assert _warn(now=day + timedelta(days=1)).queued == []
    assert OutgoingEmail.objects.filter(kind="certificates.expiry").count() == 1
    while row.status == EmailStatus.RETRYING:  # the sweeper's retries, without waiting for the backoff
        OutgoingEmail.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
        mailer_tasks.send_email(row.pk)
        row.refresh_from_db()
    assert row.status == EmailStatus.FAILED and row.attempts == mailer_services.MAX_ATTEMPTS
    failed = Event.objects.filter(action="certificates.expiry_warning_failed", target_id=str(certificate.pk))
    assert (
        failed.count() == 1 and failed.get().outcome == "failure" and "refused" in failed.get().details["error"].lower()
    )
    # It failed for good: a later day queues it again, and this time the server takes it.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    run = _warn(now=day + timedelta(days=2))
    assert run.queued == [(certificate.pk, 7)]
    notice.refresh_from_db()
    assert notice.sent_at is not None and notice.error == "" and notice.attempts == 2
    assert len(_to_holder(holder)) == 1
    assert Event.objects.filter(action="certificates.expiry_warning_sent", target_id=str(certificate.pk)).count() == 1


def test_revoked_and_superseded_certificates_get_no_warning(certificate, holder, branded, personas):
    services.certificate_revoke(certificate=certificate, actor=personas["admin"], reason="superseded")
    assert _warn(now=certificate.not_after - timedelta(days=1)).queued == []


class _Collector:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.envelopes.append(envelope)
        return "250 OK"


def test_warning_is_delivered_through_a_real_smtp_server(certificate, holder, branded, settings, personas):
    collector = _Collector()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        result = _warn(now=certificate.not_after - timedelta(days=1))
        assert result.queued == [(certificate.pk, 1)]
    finally:
        controller.stop()
    (envelope,) = collector.envelopes
    assert holder.email in envelope.rcpt_tos and personas["admin"].email in envelope.rcpt_tos
    parsed = email.message_from_bytes(envelope.content)
    assert "expires in 1 days" in str(email.header.make_header(email.header.decode_header(parsed["Subject"])))
    assert "Bcc" not in parsed
    assert any(part.get("Content-ID") == "<logo>" for part in parsed.walk())


def test_daily_task_expires_and_returns_counts(certificate, branded):
    assert tasks.send_expiry_warnings() == {"expired": 0, "queued": 0, "failed": 0}
