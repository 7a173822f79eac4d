"""The engine without signing: reminders and escalation, branded e-mail, query counts, the admin console."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.services import StepUpFailed
from audit.models import Event
from signing.models import PadesLevel
from tests.conftest import admin_login, blank_pdf, make_otp
from workflows import selectors, services, tasks
from workflows.models import Document, DocumentStatus, Notification, RouteTier, TierStatus, WorkflowTemplate

pytestmark = pytest.mark.django_db

PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082"
)


@pytest.fixture
def template(db):
    return WorkflowTemplate.objects.get(code="memo-2-tier")


def start(personas, template, title="บันทึกข้อความ") -> Document:
    return services.route_start(title=title, pdf=blank_pdf(), template=template, actor=personas["requester"])


def test_reminder_at_half_time_once_then_escalation_to_it_admins_once(
    personas, template, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        document = start(personas, template)
    tier = RouteTier.objects.get(document=document, order=1)
    mail.outbox.clear()

    assert tasks.send_reminders() == {"reminded": 0, "escalated": 0}  # not yet half-way
    RouteTier.objects.filter(pk=tier.pk).update(
        activated_at=timezone.now() - timedelta(hours=40), due_at=timezone.now() + timedelta(hours=32)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.send_reminders() == {"reminded": 1, "escalated": 0}
        assert tasks.send_reminders() == {"reminded": 0, "escalated": 0}
    reminded = Notification.objects.filter(document=document, kind="reminder")
    assert sorted(reminded.values_list("user__username", flat=True)) == ["head1", "head2", "head3"]
    assert sorted(m.to[0] for m in mail.outbox) == [f"head{i}@dsign.example" for i in (1, 2, 3)]
    assert not Notification.objects.filter(user=personas["director"], kind="reminder").exists()

    RouteTier.objects.filter(pk=tier.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.send_reminders() == {"reminded": 0, "escalated": 1}
        assert tasks.send_reminders() == {"reminded": 0, "escalated": 0}
    escalation = Notification.objects.get(document=document, kind="escalation")
    assert escalation.user == personas["admin"] and "head1" in escalation.message
    assert Event.objects.filter(action="route.escalated", target_id=str(document.pk)).count() == 1


def test_no_reminder_for_a_document_that_ended(personas, template):
    document = start(personas, template)
    RouteTier.objects.filter(document=document).update(
        activated_at=timezone.now() - timedelta(days=10), due_at=timezone.now() - timedelta(days=1)
    )
    services.route_recall(document=document, actor=personas["requester"])
    assert tasks.send_reminders() == {"reminded": 0, "escalated": 0}


def test_email_carries_the_organisation_name_and_logo(
    personas, template, settings, tmp_path, django_capture_on_commit_callbacks
):
    logo = tmp_path / "logo.png"
    logo.write_bytes(PNG_1PX)
    settings.ORGANIZATION_NAME = "กรมตัวอย่าง"
    settings.ORGANIZATION_LOGO = str(logo)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        document = start(personas, template, title="ขออนุมัติจัดซื้อ")
    message = next(m for m in mail.outbox if m.to == ["head1@dsign.example"])
    assert message.subject.startswith("[กรมตัวอย่าง]") and "ขออนุมัติจัดซื้อ" in message.subject
    html, mime = message.alternatives[0]
    assert mime == "text/html" and "กรมตัวอย่าง" in html and 'src="cid:logo"' in html
    assert f"/documents/{document.pk}/" in message.body
    raw = message.message().as_string()
    assert "Content-ID: <logo>" in raw


def test_document_list_and_inbox_do_not_query_per_row(personas, template, django_assert_max_num_queries):
    def read_list():
        docs = selectors.with_routes(selectors.documents_page(user=personas["requester"])[0])
        for document in docs:
            _ = document.template.code, document.requester.username
            for tier in selectors.current_tiers(document):
                for seat in tier.assignments.all():
                    _ = seat.signer.username, seat.decided_by
        return len(docs)

    def read_inbox():
        seats = list(selectors.inbox(personas["head1"]))
        for seat in seats:
            _ = seat.document.title, seat.document.requester.full_name_th, seat.tier.name, seat.document.template.code
        return len(seats)

    start(personas, template)
    with django_assert_max_num_queries(6) as few:
        assert read_list() == 1
    with django_assert_max_num_queries(1):
        assert read_inbox() == 1
    for number in range(7):
        start(personas, template, title=f"เรื่องที่ {number}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert read_list() == 8
    with django_assert_max_num_queries(1):
        assert read_inbox() == 8


def test_return_to_an_earlier_tier_restarts_from_that_tier(personas, template, django_capture_on_commit_callbacks):
    # Tier 2 opens only once tier 1's signatures are in the file (quorum counts signatures), so they are made.
    template.pades_level = PadesLevel.B_B
    template.save()
    document = start(personas, template)
    for head in ("head1", "head2"):
        with django_capture_on_commit_callbacks(execute=True):
            services.decision_approve(document=document, actor=personas[head], otp=make_otp(personas[head]))
    with pytest.raises(services.InvalidDocument):
        services.decision_return(document=document, actor=personas["director"], comment="x", to_tier=3)
    services.decision_return(document=document, actor=personas["director"], comment="ขอความเห็น", to_tier=1)
    document.refresh_from_db()
    assert document.round == 2 and document.status == DocumentStatus.IN_PROGRESS
    tiers = RouteTier.objects.filter(pk__in=selectors.current_tier_ids(document)).order_by("order")
    assert [(t.round, t.status) for t in tiers] == [(2, TierStatus.ACTIVE), (2, TierStatus.PENDING)]


def test_a_seat_decides_once_even_when_asked_twice(personas, template):
    document = start(personas, template)
    services.decision_approve(document=document, actor=personas["head1"], otp=make_otp(personas["head1"]))
    with pytest.raises(services.AlreadyDecided):
        services.decision_approve(document=document, actor=personas["head1"], otp=make_otp(personas["head1"]))
    with pytest.raises(services.NotYourTurn):
        services.decision_approve(document=document, actor=personas["director"], otp=make_otp(personas["director"]))
    with pytest.raises(StepUpFailed):
        services.decision_approve(document=document, actor=personas["head2"], otp=None)


class TestAdmin:
    @pytest.fixture
    def admin_client(self, client, personas):
        admin_login(client, personas["admin"])
        return client

    def test_pages_open(self, admin_client, personas, template):
        document = start(personas, template)
        for url in (
            "/admin/workflows/workflowtemplate/",
            f"/admin/workflows/workflowtemplate/{template.pk}/change/",
            "/admin/workflows/workflowtemplate/add/",
            "/admin/workflows/document/?status__exact=in_progress&q=บันทึก",
            f"/admin/workflows/document/{document.pk}/change/",
            "/admin/workflows/delegation/",
            "/admin/workflows/delegation/add/",
        ):
            assert admin_client.get(url).status_code == 200, url

    def test_cancel_action_asks_for_a_reason_then_calls_the_service(self, admin_client, personas, template):
        document = start(personas, template)
        url = "/admin/workflows/document/"
        form = admin_client.post(url, {"action": "cancel_with_reason", "_selected_action": [document.pk]})
        assert form.status_code == 200 and b'name="reason"' in form.content
        document.refresh_from_db()
        assert document.status == DocumentStatus.IN_PROGRESS
        done = admin_client.post(
            url,
            {"action": "cancel_with_reason", "_selected_action": [document.pk], "apply": "1", "reason": "ยื่นซ้ำ"},
        )
        assert done.status_code == 302
        document.refresh_from_db()
        assert document.status == DocumentStatus.CANCELLED
        event = Event.objects.get(action="document.cancelled", target_id=str(document.pk))
        assert event.details["reason"] == "ยื่นซ้ำ" and event.actor_repr == "admin"

    def test_reassign_action_moves_a_seat_with_a_reason(self, admin_client, personas, template):
        document = start(personas, template)
        seat = document.assignments.get(signer=personas["head2"])
        url = "/admin/workflows/document/"
        form = admin_client.post(url, {"action": "reassign_seat", "_selected_action": [document.pk]})
        assert form.status_code == 200 and b'name="seat"' in form.content
        done = admin_client.post(
            url,
            {
                "action": "reassign_seat",
                "_selected_action": [document.pk],
                "apply": "1",
                "seat": seat.pk,
                "new_signer": personas["auditor"].pk,
                "reason": "ลาคลอด",
            },
        )
        assert done.status_code == 302
        seat.refresh_from_db()
        assert seat.signer == personas["auditor"]
        assert (
            Event.objects.get(action="assignment.reassigned", target_id=str(document.pk)).details["reason"] == "ลาคลอด"
        )

    def test_delegation_added_in_admin_goes_through_the_service(self, admin_client, personas):
        now = timezone.now()
        response = admin_client.post(
            "/admin/workflows/delegation/add/",
            {
                "delegator": personas["director"].pk,
                "delegate": personas["head1"].pk,
                "kind": "standing_in",
                "starts_at_0": now.strftime("%Y-%m-%d"),
                "starts_at_1": "00:00:00",
                "ends_at_0": (now + timedelta(days=3)).strftime("%Y-%m-%d"),
                "ends_at_1": "00:00:00",
            },
        )
        assert response.status_code == 302, response.content[:2000]
        assert Event.objects.filter(action="delegation.created", actor_repr="admin").count() == 1
