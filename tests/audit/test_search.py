"""Searching the log: the auditors' API (filters, cursor pages, 403 for others), the read-only admin,
and the capture of Django admin changes."""

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import transaction

import audit
from accounts.models import OrgUnit
from audit.models import Event
from tests.conftest import admin_login

pytestmark = pytest.mark.django_db


def _seed(personas):
    with transaction.atomic():
        audit.record(actor=personas["head1"], action="document.approved", target=("workflows.document", 41))
        audit.record(actor=personas["head2"], action="document.rejected", target=("workflows.document", 42))
        audit.record(action="signing.failed", target=("signing.signingjob", 7), outcome="failure")


def test_requester_gets_403_and_auditor_gets_events(personas, api_for):
    _seed(personas)
    assert api_for(personas["requester"]).get("/api/v1/audit/events/").status_code == 403
    response = api_for(personas["auditor"]).get("/api/v1/audit/events/")
    assert response.status_code == 200
    # Minting the test tokens and the refusal itself are events too; the seeded ones come before them.
    actions = [
        row["action"] for row in response.json()["results"] if not row["action"].startswith(("accounts.", "access."))
    ]
    assert "access.denied" in [row["action"] for row in response.json()["results"]]
    assert actions[:3] == ["signing.failed", "document.rejected", "document.approved"]


@pytest.mark.parametrize(
    "query, expected",
    [
        ("action=document.", ["document.rejected", "document.approved"]),
        ("actor=head1", ["document.approved"]),
        ("outcome=failure", ["signing.failed"]),
        ("target_type=workflows.document&target_id=42", ["document.rejected"]),
        ("from=2001-01-01&to=2001-01-31", []),
    ],
)
def test_api_filters(personas, api_for, query, expected):
    before = Event.objects.order_by("-id").values_list("id", flat=True).first() or 0
    _seed(personas)
    response = api_for(personas["admin"]).get(f"/api/v1/audit/events/?{query}")
    assert response.status_code == 200, response.content
    assert [row["action"] for row in response.json()["results"] if row["id"] > before] == expected


def test_api_rejects_a_bad_date_with_400(personas, api_for):
    response = api_for(personas["auditor"]).get("/api/v1/audit/events/?from=yesterday")
    assert response.status_code == 400 and "from" in response.json()["detail"]


def test_api_pages_with_a_cursor(personas, api_for):
    _seed(personas)
    client = api_for(personas["auditor"])
    first = client.get("/api/v1/audit/events/?page_size=2").json()
    assert len(first["results"]) == 2 and first["next"]
    second = client.get(first["next"]).json()
    ids = [row["id"] for row in first["results"] + second["results"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids) >= 3


def test_admin_changes_are_recorded(personas, client):
    admin = personas["admin"]
    admin_login(client, admin)
    unit = OrgUnit.objects.first()
    response = client.post(
        f"/admin/accounts/orgunit/{unit.pk}/change/",
        {"code": unit.code, "name_th": "หน่วยงานเปลี่ยนชื่อ", "name_en": unit.name_en, "parent": unit.parent_id or ""},
    )
    assert response.status_code == 302, response.content[:2000]
    event = Event.objects.filter(action="admin.change").first()
    assert event is not None
    assert (event.actor_id, event.target_type, event.target_id) == (admin.pk, "accounts.orgunit", str(unit.pk))
    # The change message names the changed field by its verbose name (in the active language, Thai).
    assert "ชื่อหน่วยงาน" in event.details["change_message"]


def test_bulk_admin_log_entries_are_recorded_too(personas):
    units = list(OrgUnit.objects.all()[:2])
    assert len(units) == 2
    with transaction.atomic():
        LogEntry.objects.log_actions(personas["admin"].pk, units, CHANGE, change_message="bulk")
    recorded = Event.objects.filter(action="admin.change", target_type="accounts.orgunit")
    assert sorted(recorded.values_list("target_id", flat=True)) == sorted(str(u.pk) for u in units)


def test_admin_event_list_is_read_only_and_filterable(personas, client):
    _seed(personas)
    admin_login(client, personas["admin"])
    response = client.get("/admin/audit/event/?group=document&outcome=success&period=7&q=head")
    assert response.status_code == 200
    body = response.content.decode()
    assert "document.approved" in body and "signing.failed" not in body
    assert "ดาวน์โหลดรายงาน" in body  # the report button, in the admin's Thai
    event = Event.objects.filter(action="document.approved").first()
    assert client.get("/admin/audit/event/add/").status_code == 403
    assert client.post(f"/admin/audit/event/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get(f"/admin/audit/event/{event.pk}/change/").status_code == 200
    assert Event.objects.filter(pk=event.pk).exists()
