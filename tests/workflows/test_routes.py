"""Reject, return for revision, recall, cancel/reassign and delegation, end to end over the API with real
signatures (HSM key, django-q2 task run on commit), checking what the signed file says."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from audit.models import Event
from certificates.selectors import trust_roots_list
from signing.models import PadesLevel
from signing.verification import verify_pdf_bytes
from tests.conftest import api_client_for
from tests.workflows.helpers import approve, detail, latest_file, pdf_text, signature_fields, signed_seats, upload
from workflows import services, states
from workflows.models import (
    AssignmentStatus,
    Delegation,
    Document,
    DocumentStatus,
    DocumentVersion,
    Notification,
    WorkflowTemplate,
)

pytestmark = [pytest.mark.hsm, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def bb_template(db):
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    template.pades_level = PadesLevel.B_B
    template.save()
    return template


def seat_status(document: dict, username: str) -> str:
    return next(s["status"] for t in document["tiers"] for s in t["assignments"] if s["signer"] == username)


def test_reject_ends_the_route_and_tells_the_requester(personas, pdf_bytes, bb_template):
    doc = upload(personas["requester"], pdf_bytes)
    assert approve(personas["head1"], doc["id"]).status_code == 202
    response = api_client_for(personas["head2"]).post(
        f"/api/v1/documents/{doc['id']}/reject/", {"comment": "งบประมาณไม่ถูกต้อง"}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "rejected"
    assert seat_status(body, "head2") == "rejected"
    assert seat_status(body, "head1") == "signed"  # a recorded decision is never lost
    notice = Notification.objects.get(user=personas["requester"], document_id=doc["id"], kind="rejected")
    assert "งบประมาณไม่ถูกต้อง" in notice.message
    assert any(personas["requester"].email in m.to and "งบประมาณไม่ถูกต้อง" in m.subject for m in mail.outbox)
    assert approve(personas["head3"], doc["id"]).status_code == 409


def test_reject_needs_a_comment(personas, pdf_bytes, bb_template):
    doc = upload(personas["requester"], pdf_bytes)
    response = api_client_for(personas["head1"]).post(f"/api/v1/documents/{doc['id']}/reject/", {}, format="json")
    assert response.status_code == 400
    assert detail(personas["head1"], doc["id"])["status"] == "in_progress"


def test_return_to_requester_then_resubmit_restarts_and_keeps_history(personas, pdf_bytes, bb_template):
    doc = upload(personas["requester"], pdf_bytes)
    assert approve(personas["head1"], doc["id"]).status_code == 202
    signed_v1 = latest_file(personas["head1"], doc["id"])
    response = api_client_for(personas["head2"]).post(
        f"/api/v1/documents/{doc['id']}/return/", {"comment": "แก้ไขวันที่"}, format="json"
    )
    assert response.status_code == 200 and response.json()["status"] == "returned"
    assert Notification.objects.filter(user=personas["requester"], document_id=doc["id"], kind="returned").exists()
    assert approve(personas["head3"], doc["id"]).status_code == 409

    document = Document.objects.get(pk=doc["id"])
    services.route_resubmit(document=document, actor=personas["requester"], pdf=pdf_bytes)
    again = detail(personas["requester"], doc["id"])
    assert again["status"] == "in_progress" and again["round"] == 2
    assert [s["status"] for s in again["tiers"][0]["assignments"]] == ["pending"] * 3
    assert again["tiers"][1]["status"] == "pending"
    kinds = list(DocumentVersion.objects.filter(document=document).order_by("number").values_list("kind", flat=True))
    assert kinds == ["original", "signed", "revision"]
    earlier = DocumentVersion.objects.get(document=document, kind="signed")
    assert earlier.file.open("rb").read() == signed_v1  # the earlier signed version stays
    assert approve(personas["head1"], doc["id"]).status_code == 202
    assert set(signature_fields(latest_file(personas["head1"], doc["id"]))) == set(
        signed_seats(detail(personas["head1"], doc["id"]))
    )
    actions = [e.action for e in Event.objects.filter(target_id=str(doc["id"]), target_type="workflows.document")]
    assert {"document.returned", "document.resubmitted", "route.round_started"} <= set(actions)


def test_return_to_an_earlier_tier_asks_that_tier_again(personas, pdf_bytes, bb_template):
    doc = upload(personas["requester"], pdf_bytes)
    assert approve(personas["head1"], doc["id"]).status_code == 202
    assert approve(personas["head2"], doc["id"]).status_code == 202
    response = api_client_for(personas["director"]).post(
        f"/api/v1/documents/{doc['id']}/return/", {"comment": "ขอความเห็นใหม่", "to_tier": 1}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "in_progress" and body["round"] == 2
    assert body["tiers"][0]["status"] == "active" and body["tiers"][1]["status"] == "pending"
    assert seat_status(body, "head3") == "pending"
    assert approve(personas["director"], doc["id"]).status_code == 403  # tier 1 first
    assert approve(personas["head3"], doc["id"]).status_code == 202


def test_director_return_to_own_tier_keeps_tier_one_signatures(personas, pdf_bytes, bb_template):
    doc = upload(personas["requester"], pdf_bytes)
    approve(personas["head1"], doc["id"])
    approve(personas["head2"], doc["id"])
    response = api_client_for(personas["director"]).post(
        f"/api/v1/documents/{doc['id']}/return/", {"comment": "ขอพิจารณาใหม่", "to_tier": 2}, format="json"
    )
    body = response.json()
    assert body["tiers"][0]["status"] == "completed"
    assert seat_status(body, "head1") == "signed"
    assert approve(personas["director"], doc["id"]).status_code == 202
    final = detail(personas["director"], doc["id"])
    assert final["status"] == "completed"
    assert set(signed_seats(final)) == set(signature_fields(latest_file(personas["director"], doc["id"])))


def test_recall_by_requester_stops_the_route(personas, pdf_bytes, bb_template):
    doc = upload(personas["requester"], pdf_bytes)
    assert api_client_for(personas["head1"]).post(f"/api/v1/documents/{doc['id']}/recall/").status_code == 404
    response = api_client_for(personas["requester"]).post(
        f"/api/v1/documents/{doc['id']}/recall/", {"comment": "ส่งผิดฉบับ"}, format="json"
    )
    assert response.status_code == 200 and response.json()["status"] == "recalled"
    assert {seat_status(response.json(), h) for h in ("head1", "head2", "head3")} == {"cancelled"}
    assert approve(personas["head1"], doc["id"]).status_code == 409
    again = api_client_for(personas["requester"]).post(f"/api/v1/documents/{doc['id']}/recall/")
    assert again.status_code == 409


def test_cancel_and_reassign_are_for_admins_and_audited_with_a_reason(personas, pdf_bytes, bb_template):
    doc = upload(personas["requester"], pdf_bytes)
    document = Document.objects.get(pk=doc["id"])
    seat = document.assignments.get(signer=personas["head3"])
    with pytest.raises(services.NotAllowed):
        services.assignment_reassign(
            assignment=seat, new_signer=personas["auditor"], actor=personas["requester"], reason="x"
        )
    with pytest.raises(services.InvalidDocument):
        services.assignment_reassign(
            assignment=seat, new_signer=personas["auditor"], actor=personas["admin"], reason=""
        )
    with pytest.raises(services.InvalidDocument):  # head1 already holds a seat
        services.assignment_reassign(assignment=seat, new_signer=personas["head1"], actor=personas["admin"], reason="r")
    services.assignment_reassign(
        assignment=seat, new_signer=personas["auditor"], actor=personas["admin"], reason="หัวหน้ากองย้ายหน่วยงาน"
    )
    event = Event.objects.filter(action="assignment.reassigned", target_id=str(doc["id"])).get()
    assert event.actor_repr == "admin" and event.details["reason"] == "หัวหน้ากองย้ายหน่วยงาน"
    assert event.details["from"] == "head3" and event.details["to"] == "auditor"
    assert approve(personas["head3"], doc["id"]).status_code in (403, 404)
    assert approve(personas["auditor"], doc["id"]).status_code == 202

    with pytest.raises(services.NotAllowed):
        services.route_cancel(document=document, actor=personas["head1"], reason="x")
    services.route_cancel(document=document, actor=personas["admin"], reason="ซ้ำกับเลขที่ 12/2569")
    assert detail(personas["requester"], doc["id"])["status"] == "cancelled"
    event = Event.objects.filter(action="document.cancelled", target_id=str(doc["id"])).get()
    assert event.details["reason"] == "ซ้ำกับเลขที่ 12/2569" and event.actor_repr == "admin"
    with pytest.raises(services.WorkflowError) as refused:
        services.route_cancel(document=document, actor=personas["admin"], reason="again")
    assert refused.value.status == 409


@pytest.mark.parametrize(
    "kind, words", [(Delegation.Kind.ACTING_FOR, "ปฏิบัติราชการแทน"), (Delegation.Kind.STANDING_IN, "รักษาราชการแทน")]
)
def test_delegate_signature_says_for_whom_in_reason_and_stamp(personas, pdf_bytes, bb_template, kind, words):
    now = timezone.now()
    services.delegation_create(
        delegator=personas["head1"],
        delegate=personas["auditor"],
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(days=1),
        kind=kind,
        actor=personas["head1"],
    )
    doc = upload(personas["requester"], pdf_bytes)
    assert detail(personas["auditor"], doc["id"])["id"] == doc["id"]  # the delegate sees the document
    assert approve(personas["auditor"], doc["id"]).status_code == 202
    body = detail(personas["auditor"], doc["id"])
    seat = next(s for t in body["tiers"] for s in t["assignments"] if s["signer"] == "head1")
    assert seat["status"] == "signed" and seat["decided_by"] == "auditor"
    assert approve(personas["head1"], doc["id"]).status_code == 409  # the seat is decided once

    pdf = latest_file(personas["auditor"], doc["id"])
    reason = signature_fields(pdf)[seat["field"]]["reason"]
    assert words in reason and personas["head1"].full_name_th in reason and personas["auditor"].full_name_th in reason
    report = verify_pdf_bytes(data=pdf, trust_roots=trust_roots_list())
    assert report["valid"], report
    assert report["signatures"][0]["field"] == seat["field"]
    text = pdf_text(pdf)
    assert words in text and personas["head1"].position in text


def test_expired_delegation_gives_no_seat(personas, pdf_bytes, bb_template):
    now = timezone.now()
    services.delegation_create(
        delegator=personas["head1"],
        delegate=personas["auditor"],
        starts_at=now - timedelta(days=3),
        ends_at=now - timedelta(days=1),
        kind=Delegation.Kind.ACTING_FOR,
        actor=personas["admin"],
    )
    doc = upload(personas["requester"], pdf_bytes)
    assert approve(personas["auditor"], doc["id"]).status_code == 404
    assert Document.objects.get(pk=doc["id"]).assignments.filter(status=AssignmentStatus.PENDING).count() == 4


def test_document_status_is_never_assigned_by_hand():
    """States change only through workflows.states; grep the engine for hand-made assignments."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[2] / "workflows"
    offenders = []
    pattern = re.compile(r"\.status\s*=[^=]|update\([^)]*\bstatus\s*=")
    for path in root.rglob("*.py"):
        if path.name == "states.py" or "migrations" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert offenders == []
    assert DocumentStatus.IN_PROGRESS == states.DOCUMENT_INITIAL
