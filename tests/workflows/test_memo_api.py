"""Memos through `POST /api/v1/documents/` (rendered by dsign), the send register's numbers, urgency and
confidentiality classes, and who may see a classified document (issue 20)."""

from __future__ import annotations

import threading

import pytest
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from core.thai import BUDDHIST_ERA_OFFSET, thai_digits
from tests.conftest import admin_login, api_client_for, blank_pdf
from tests.support.thai_words import pdftotext
from tests.workflows.helpers import latest_file
from workflows import services
from workflows.models import Document, DocumentVersion, SendRegister, TemplateTier, WorkflowTemplate

MEMO = {
    "department": "กองคลัง ฝ่ายพัสดุ",
    "subject": "ขออนุมัติจัดซื้อวัสดุสำนักงาน",
    "to": "ผู้อำนวยการ",
    "body": "ด้วยฝ่ายพัสดุมีความประสงค์จะจัดซื้อวัสดุสำนักงาน\nจึงเรียนมาเพื่อโปรดพิจารณา",
}
YEAR = thai_digits(timezone.localdate().year + BUDDHIST_ERA_OFFSET)


def post(user, memo=None, **top):
    body = {"title": "ขออนุมัติจัดซื้อ", "workflow": "memo-2-tier", **top}
    if memo is not None:
        body["memo"] = memo
    return api_client_for(user).post("/api/v1/documents/", body, format="json")


def counts():
    return (
        Document.objects.count(),
        DocumentVersion.objects.count(),
        list(SendRegister.objects.values_list("last_number")),
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "memo, fields",
    [
        ({}, ["memo.body", "memo.subject", "memo.to"]),
        ({**MEMO, "subject": ""}, ["memo.subject"]),
        ({**MEMO, "urgency": "whenever", "confidentiality": "public"}, ["memo.confidentiality", "memo.urgency"]),
        ({**MEMO, "date": "22/11/2569"}, ["memo.date"]),
        ({**MEMO, "colour": "red", "signers": ["outsider"]}, ["memo.colour", "memo.signers"]),
        ("not an object", ["memo"]),
        (["a", "list"], ["memo"]),
    ],
)
def test_bad_memo_fields_get_400_naming_them_and_store_nothing(personas, memo, fields):
    before = counts()
    response = post(personas["requester"], memo)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid" and response.json()["fields"] == fields
    for name in fields:
        assert name in response.json()["detail"]
    assert counts() == before


@pytest.mark.django_db
def test_file_and_memo_together_or_neither_get_400(personas):
    neither = post(personas["requester"])
    assert neither.status_code == 400 and neither.json()["fields"] == ["file", "memo"]
    from django.core.files.uploadedfile import SimpleUploadedFile

    both = api_client_for(personas["requester"]).post(
        "/api/v1/documents/",
        {
            "title": "x",
            "workflow": "memo-2-tier",
            "memo": '{"subject": "a", "to": "b", "body": "c"}',
            "file": SimpleUploadedFile("m.pdf", blank_pdf(), content_type="application/pdf"),
        },
        format="multipart",
    )
    assert both.status_code == 400 and both.json()["fields"] == ["file", "memo"]


@pytest.mark.django_db
def test_memo_without_number_takes_the_next_from_its_units_send_register(personas, tmp_path):
    requester = personas["requester"]
    SendRegister.objects.create(
        org_unit=requester.org_unit, year=timezone.localdate().year + BUDDHIST_ERA_OFFSET, prefix="กค 0401"
    )
    first = post(requester, {**MEMO, "number": None, "urgency": "very_urgent"})
    second = post(requester, MEMO)
    given = post(requester, {**MEMO, "number": "กค 0401/ว 99"})
    assert [r.status_code for r in (first, second, given)] == [201, 201, 201], first.content
    assert first.json()["reference_no"] == f"กค 0401 ๑/{YEAR}"
    assert second.json()["reference_no"] == f"กค 0401 ๒/{YEAR}"
    assert given.json()["reference_no"] == "กค 0401/ว 99"
    assert SendRegister.objects.get(org_unit=requester.org_unit).last_number == 2
    assert first.json()["urgency"] == "very_urgent" and first.json()["confidentiality"] == ""
    text = pdftotext(latest_file(requester, first.json()["id"]), tmp_path)
    assert f"กค 0401 ๑/{YEAR}" in text and "ด่วนมาก" in text and MEMO["subject"] in text


@pytest.mark.django_db
def test_a_memo_that_cannot_start_gives_its_number_back(personas):
    requester = personas["requester"]
    assert post(requester, MEMO).status_code == 201
    # The route cannot start (a tier without enough signers): the register stays where it was.
    TemplateTier.objects.filter(template__code="memo-2-tier", order=2).update(quorum=5)
    refused = post(requester, MEMO)
    assert refused.status_code == 400, refused.content
    assert SendRegister.objects.get(org_unit=requester.org_unit).last_number == 1
    TemplateTier.objects.filter(template__code="memo-2-tier", order=2).update(quorum=1)
    assert post(requester, MEMO).json()["reference_no"] == f"๒/{YEAR}"


@pytest.mark.django_db
def test_no_org_unit_means_no_register_unless_a_number_is_given(outsider):
    refused = post(outsider, MEMO)
    assert refused.status_code == 400 and refused.json()["code"] == "no_register"
    assert not Document.objects.filter(requester=outsider).exists()


@pytest.mark.django_db
def test_uploads_take_urgency_and_confidentiality_and_the_list_filters_by_urgency(personas):
    from django.core.files.uploadedfile import SimpleUploadedFile

    requester = api_client_for(personas["requester"])
    made = {}
    for urgency in ("urgent", ""):
        response = requester.post(
            "/api/v1/documents/",
            {
                "title": f"เอกสาร {urgency or 'ปกติ'}",
                "workflow": "memo-2-tier",
                "urgency": urgency,
                "file": SimpleUploadedFile("m.pdf", blank_pdf(), content_type="application/pdf"),
            },
            format="multipart",
        )
        assert response.status_code == 201, response.content
        made[urgency] = response.json()["id"]
    listed = requester.get("/api/v1/documents/?urgency=urgent").json()["results"]
    assert [d["id"] for d in listed] == [made["urgent"]] and listed[0]["urgency"] == "urgent"
    assert requester.get("/api/v1/documents/?urgency=soon").status_code == 400
    inbox = api_client_for(personas["head1"]).get("/api/v1/inbox/?urgency=urgent").json()["results"]
    assert [item["document"]["id"] for item in inbox] == [made["urgent"]]
    assert inbox[0]["document"]["urgency"] == "urgent"


# --- a classified document: only the route's participants ---------------------------------------------


@pytest.mark.django_db
def test_auditor_and_it_admin_cannot_see_a_classified_document_they_take_no_part_in(personas, client):
    secret = post(personas["requester"], {**MEMO, "confidentiality": "secret"})
    ordinary = post(personas["requester"], MEMO)
    assert secret.status_code == ordinary.status_code == 201
    secret_id, ordinary_id = secret.json()["id"], ordinary.json()["id"]

    for name in ("auditor", "admin"):
        api = api_client_for(personas[name])
        assert api.get(f"/api/v1/documents/{ordinary_id}/").status_code == 200  # their role sees documents
        for path in ("", "file/", "versions/", "timeline/", "archive/"):
            response = api.get(f"/api/v1/documents/{secret_id}/{path}")
            assert response.status_code == 404, (name, path, response.status_code)
        copy = api.post(f"/api/v1/documents/{secret_id}/encrypted/", {"password": "x" * 12}, format="json")
        assert copy.status_code == 404
        assert secret_id not in [d["id"] for d in api.get("/api/v1/documents/?limit=200").json()["results"]]
        client.force_login(personas[name])
        assert client.get(f"/documents/{secret_id}/").status_code == 404
        assert client.get(f"/documents/{ordinary_id}/").status_code == 200

    admin_login(client, personas["admin"])
    changelist = client.get("/admin/workflows/document/").content.decode()
    assert f"/admin/workflows/document/{ordinary_id}/change/" in changelist
    assert f"/admin/workflows/document/{secret_id}/change/" not in changelist
    assert client.get(f"/admin/workflows/document/{secret_id}/change/").status_code in (302, 404)

    # The route's participants still see it: the requester and every seat holder, whether signed or not.
    for name in ("requester", "head1", "head2", "head3", "director"):
        assert api_client_for(personas[name]).get(f"/api/v1/documents/{secret_id}/").status_code == 200


# --- the register under concurrency (PostgreSQL row lock) -----------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_memos_get_distinct_consecutive_numbers(personas):
    if connection.vendor != "postgresql":
        pytest.skip("the row lock is PostgreSQL's (SQLite serialises writers anyway)")
    unit = personas["requester"].org_unit
    workers, per_worker = 8, 5
    barrier = threading.Barrier(workers)
    taken: list[str] = []
    errors: list[BaseException] = []

    def work():
        try:
            barrier.wait(timeout=30)
            for _ in range(per_worker):
                with transaction.atomic():
                    number = services.register_number_take(org_unit=unit)
                taken.append(number)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    expected = [f"{thai_digits(n)}/{YEAR}" for n in range(1, workers * per_worker + 1)]
    assert sorted(taken, key=expected.index) == expected
    assert SendRegister.objects.get(org_unit=unit).last_number == workers * per_worker


@pytest.mark.django_db
def test_memo_template_seats_need_no_template_change(personas):
    # memo-2-tier's heads are not the originator: the first tier's seats are the three heads.
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    seats = services.memo_seats(template=template, requester=personas["requester"])
    assert [s["username"] for s in seats] == ["head1", "head2", "head3", "director"]
    assert [s["tier"] for s in seats] == [1, 1, 1, 2]
