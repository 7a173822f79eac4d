"""Workflow e-mail goes through the ledger: queued with the state change, sent by a worker, retried, visible."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core import mail
from django.test import TestCase
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ

from audit.models import Event
from mailer import services, tasks
from mailer.models import EmailStatus, OutgoingEmail
from tests.conftest import admin_login, blank_pdf
from tests.support.smtp import SilentSMTPServer, use_smtp_server
from tests.workflows.helpers import approve, upload
from workflows import services as workflow_services
from workflows.models import Notification, WorkflowTemplate

pytestmark = [pytest.mark.django_db, pytest.mark.hsm]


@pytest.fixture
def smtp_to(settings):
    servers = []

    def use(**kwargs) -> SilentSMTPServer:
        server = SilentSMTPServer(**kwargs)
        servers.append(server)
        use_smtp_server(settings, server)
        return server

    yield use
    for server in servers:
        server.close()


def _queued_task_args(func: str) -> list[tuple]:
    return [q.task["args"] for q in OrmQ.objects.all() if q.task["func"] == func]


def test_a_hanging_smtp_server_does_not_hold_up_an_approval(
    personas, smtp_to, monkeypatch, django_capture_on_commit_callbacks
):
    server = smtp_to()
    monkeypatch.setattr(Conf, "SYNC", False)  # as in production: tasks go to the broker for a worker
    with django_capture_on_commit_callbacks(execute=True):
        document = upload(personas["requester"], blank_pdf())  # the heads are told: e-mails queued
        first = approve(personas["head1"], document["id"])
        second = approve(personas["head2"], document["id"])

    assert (first.status_code, second.status_code) == (202, 202)
    assert server.connections == []  # neither the upload nor the approvals talked to the SMTP server
    head3 = personas["head3"]
    assert Notification.objects.filter(user=head3, document_id=document["id"], kind="assigned").exists()
    row = OutgoingEmail.objects.get(to=[head3.email], kind="workflow.assigned")
    assert row.status == EmailStatus.PENDING
    assert (row.pk,) in _queued_task_args("mailer.tasks.send_email")

    # The worker meets the hanging server: the attempt times out and the row waits for its retry.
    assert tasks.send_email(row.pk) == EmailStatus.RETRYING
    row.refresh_from_db()
    assert len(server.connections) == 1
    assert row.attempts == 1 and row.next_attempt_at > timezone.now()
    assert "timeout" in row.last_error.lower() or "timed out" in row.last_error.lower()


def test_a_line_break_in_the_title_does_not_drop_the_notifications(personas, django_capture_on_commit_callbacks):
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        workflow_services.route_start(
            title="บันทึกข้อความ\r\nขออนุมัติ\nงบประมาณ", pdf=blank_pdf(), template=template, actor=personas["requester"]
        )
    assert sorted(m.to[0] for m in mail.outbox) == [f"head{i}@dsign.example" for i in (1, 2, 3)]
    for message in mail.outbox:
        assert "\n" not in message.subject and "\r" not in message.subject
        assert "บันทึกข้อความ ขออนุมัติ งบประมาณ" in message.subject
        message.message()  # renders: no BadHeaderError
    assert set(OutgoingEmail.objects.values_list("status", flat=True)) == {EmailStatus.SENT}


def _queued(**overrides) -> OutgoingEmail:
    from django.core.mail import EmailMultiAlternatives

    message = EmailMultiAlternatives(subject="ทดสอบ", body="body", to=["head1@dsign.example"])
    message.attach_alternative("<p>html</p>", "text/html")
    message.attach("report.csv", b"a,b\n1,2\n", "text/csv")
    row = services.email_queue(message=message, kind="test")
    OutgoingEmail.objects.filter(pk=row.pk).update(**overrides)
    return row


def test_a_task_run_twice_sends_once_with_its_parts():
    row = _queued()
    mail.outbox.clear()
    assert tasks.send_email(row.pk) == EmailStatus.SENT
    assert tasks.send_email(row.pk) == EmailStatus.SENT
    (message,) = mail.outbox
    assert message.alternatives[0][0] == "<p>html</p>"
    assert message.attachments[0][0] == "report.csv"


def test_transient_failures_back_off_then_fail_after_the_last_attempt(smtp_to):
    server = smtp_to()
    server.close()  # nothing listens any more: connection refused
    row = _queued()
    delays = []
    for _ in range(services.MAX_ATTEMPTS):
        status = tasks.send_email(row.pk)
        row.refresh_from_db()
        if status == EmailStatus.RETRYING:
            delays.append(row.next_attempt_at - timezone.now())
            assert row.pk in services.emails_due() or row.next_attempt_at > timezone.now()
            OutgoingEmail.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    assert row.status == EmailStatus.FAILED and row.attempts == services.MAX_ATTEMPTS
    assert delays == sorted(delays) and delays[0] < delays[-1]


def test_a_permanent_refusal_fails_at_once_shows_in_admin_and_can_be_sent_again(smtp_to, client, personas):
    smtp_to(greeting=b"554 5.7.1 no service for you\r\n")
    row = _queued()
    assert tasks.send_email(row.pk) == EmailStatus.FAILED
    admin_login(client, personas["admin"])
    page = client.get("/admin/mailer/outgoingemail/?status__exact=failed")
    assert page.status_code == 200 and "ทดสอบ" in page.content.decode()
    client.post("/admin/mailer/outgoingemail/", {"action": "retry_now", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.status == EmailStatus.RETRYING and row.pk in services.emails_due()


def test_the_sweeper_resends_what_a_dead_worker_left_claimed(settings):
    row = _queued(status=EmailStatus.SENDING, claimed_at=timezone.now() - timedelta(hours=1))
    mail.outbox.clear()
    assert tasks.resume_emails() == 1  # sync in tests: the re-enqueued task runs at once
    row.refresh_from_db()
    assert row.status == EmailStatus.SENT and len(mail.outbox) == 1


def test_the_monthly_report_lists_the_emails_that_were_not_sent(smtp_to, tmp_path):
    import csv

    from django.core.management import call_command

    smtp_to(greeting=b"554 5.7.1 no service for you\r\n")
    row = _queued()
    tasks.send_email(row.pk)
    month = timezone.localdate().strftime("%Y-%m")
    call_command("monthly_report", "--month", month, "--out", str(tmp_path))
    with open(tmp_path / f"report-{month}.csv", encoding="utf-8-sig", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["section"] == "failed_emails"]
    assert [(r["record_id"], r["outcome"]) for r in rows] == [(str(row.pk), "failed")]
    assert "554" in rows[0]["detail"] and "head1@dsign.example" in rows[0]["object"]


def test_certificate_and_report_emails_wait_for_no_smtp_server_fail_visibly_and_are_sent_again(
    personas, outsider, smtp_to, settings, monkeypatch, client, tmp_path
):
    from certificates import services as certificate_services
    from reports import services as report_services

    hanging = smtp_to()
    settings.EMAIL_TIMEOUT = 20  # sent inline, the agreement and the eight expiry warnings would take minutes
    monkeypatch.setattr(Conf, "SYNC", False)  # as in production: tasks go to the broker for a worker
    outsider.email = "o@dsign.example"
    outsider.save()
    started = time.monotonic()
    with TestCase.captureOnCommitCallbacks(execute=True):
        cert = certificate_services.certificate_issue(user=outsider, actor=personas["admin"])
    with TestCase.captureOnCommitCallbacks(execute=True):
        run = certificate_services.expiry_warnings_send(now=cert.not_after - timedelta(days=7), thresholds=[7])
    assert time.monotonic() - started < settings.EMAIL_TIMEOUT
    today = timezone.localdate()
    with TestCase.captureOnCommitCallbacks(execute=True):
        report_services.monthly_report_send(year=today.year, month=today.month, work_dir=tmp_path)
    assert (cert.pk, 7) in run.queued  # the personas' certificates expire that day too
    assert hanging.connections == []  # none of them talked to the SMTP server
    notice = cert.expiry_notices.get()
    emails = {
        "certificates.agreement": OutgoingEmail.objects.get(kind="certificates.agreement"),
        "certificates.expiry": OutgoingEmail.objects.get(ref=f"certificates.expirynotice:{notice.pk}"),
        "reports.monthly": OutgoingEmail.objects.get(kind="reports.monthly"),
    }
    queued = _queued_task_args("mailer.tasks.send_email")
    for row in emails.values():
        assert row.status == EmailStatus.PENDING and (row.pk,) in queued
    assert len(emails["reports.monthly"].parts) == 3 and Event.objects.filter(action="reports.monthly_queued").exists()

    # The worker meets a server that refuses them: failed for good, audited where each sender keeps its record.
    smtp_to(greeting=b"554 5.7.1 no service for you\r\n")
    for row in emails.values():
        assert tasks.send_email(row.pk) == EmailStatus.FAILED
    failures = set(Event.objects.filter(outcome="failure").values_list("action", flat=True))
    assert {"certificates.agreement_email_failed", "certificates.expiry_warning_failed", "reports.monthly_failed"} <= (
        failures
    )
    notice.refresh_from_db()
    assert notice.sent_at is None and "554" in notice.error
    admin_login(client, personas["admin"])
    page = client.get("/admin/mailer/outgoingemail/?status__exact=failed").content.decode()
    assert all(f'value="{row.pk}"' in page for row in emails.values())

    # The server is back: the admin sends them again.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    monkeypatch.setattr(Conf, "SYNC", True)
    mail.outbox.clear()
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post(
            "/admin/mailer/outgoingemail/", {"action": "retry_now", "_selected_action": [r.pk for r in emails.values()]}
        )
    retried = OutgoingEmail.objects.filter(pk__in=[row.pk for row in emails.values()])
    assert set(retried.values_list("status", flat=True)) == {EmailStatus.SENT} and len(mail.outbox) == 3
    notice.refresh_from_db()
    assert notice.sent_at is not None and notice.error == ""
    sent = set(Event.objects.filter(outcome="success").values_list("action", flat=True))
    assert {"certificates.agreement_email_sent", "certificates.expiry_warning_sent", "reports.monthly_sent"} <= sent


def test_a_security_notice_waits_for_no_smtp_server_and_a_final_failure_is_audited(
    personas, smtp_to, monkeypatch, client, django_capture_on_commit_callbacks
):
    server = smtp_to(greeting=b"554 5.7.1 no service for you\r\n")
    monkeypatch.setattr(Conf, "SYNC", False)
    head2 = personas["head2"]
    client.force_login(head2)
    with django_capture_on_commit_callbacks(execute=True):
        changed = client.post(
            "/accounts/password_change/",
            {
                "old_password": "demo-pass-2026",
                "new_password1": "Lamyai-Orchard-93",
                "new_password2": "Lamyai-Orchard-93",
            },
        )
    assert changed.status_code == 302
    assert server.connections == []  # the password change did not talk to the SMTP server
    row = OutgoingEmail.objects.get(to=[head2.email], kind="accounts.security_notice")
    assert (row.pk,) in _queued_task_args("mailer.tasks.send_email")

    assert tasks.send_email(row.pk) == EmailStatus.FAILED  # the server refuses for good
    failed = Event.objects.get(action="accounts.security_notice_failed", target_id=str(head2.pk))
    assert failed.outcome == "failure" and failed.details["email_id"] == row.pk and "554" in failed.details["error"]
