"""The v1 document API: listing and filters, inbox, versions, Idempotency-Key, application clients."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from integrations.models import IdempotencyRecord
from integrations.services import api_client_create
from workflows.models import Document

pytestmark = pytest.mark.django_db


def upload(client, data: bytes, *, title="บันทึกข้อความ ทดสอบ", workflow="memo-2-tier", **extra):
    return client.post(
        "/api/v1/documents/",
        {
            "file": SimpleUploadedFile("memo.pdf", data, content_type="application/pdf"),
            "title": title,
            "workflow": workflow,
        },
        format="multipart",
        **extra,
    )


def test_repeating_a_create_with_the_same_idempotency_key_creates_one_document(personas, api_for, pdf_bytes):
    client = api_for(personas["requester"])
    before = Document.objects.count()
    first = upload(client, pdf_bytes, HTTP_IDEMPOTENCY_KEY="create-memo-0001")
    second = upload(client, pdf_bytes, HTTP_IDEMPOTENCY_KEY="create-memo-0001")
    assert first.status_code == second.status_code == 201, first.content
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Document.objects.count() == before + 1

    different = upload(client, pdf_bytes, title="another memo", HTTP_IDEMPOTENCY_KEY="create-memo-0001")
    assert different.status_code == 422
    assert "different request" in different.json()["detail"]
    assert Document.objects.count() == before + 1


def test_idempotency_keys_belong_to_one_user_and_failures_release_the_key(personas, api_for, pdf_bytes):
    other = upload(api_for(personas["head1"]), pdf_bytes, HTTP_IDEMPOTENCY_KEY="shared-key")
    mine = upload(api_for(personas["requester"]), pdf_bytes, HTTP_IDEMPOTENCY_KEY="shared-key")
    assert other.status_code == mine.status_code == 201
    assert other.json()["id"] != mine.json()["id"]

    client = api_for(personas["requester"])
    bad = upload(client, b"not a pdf", HTTP_IDEMPOTENCY_KEY="fix-and-retry")
    assert bad.status_code == 400
    assert not IdempotencyRecord.objects.filter(key="fix-and-retry").exists()
    fixed = upload(client, pdf_bytes, HTTP_IDEMPOTENCY_KEY="fix-and-retry")
    assert fixed.status_code == 201


def test_an_unfinished_request_with_the_same_key_gets_409(personas, api_for, pdf_bytes):
    from integrations import services

    client = api_for(personas["requester"])
    services.idempotency_begin(
        user=personas["requester"], key="in-flight", method="POST", path="/api/v1/documents/", fingerprint="x"
    )
    response = upload(client, pdf_bytes, HTTP_IDEMPOTENCY_KEY="in-flight")
    assert response.status_code == 422  # different fingerprint wins over "still running"
    IdempotencyRecord.objects.filter(key="in-flight").delete()
    first = upload(client, pdf_bytes, HTTP_IDEMPOTENCY_KEY="in-flight-2")
    IdempotencyRecord.objects.filter(key="in-flight-2").update(completed=False)
    again = upload(client, pdf_bytes, HTTP_IDEMPOTENCY_KEY="in-flight-2")
    assert first.status_code == 201 and again.status_code == 409


def test_workflow_templates_are_listed_with_their_tiers(personas, api_for):
    response = api_for(personas["requester"]).get("/api/v1/workflows/")
    assert response.status_code == 200
    memo = next(t for t in response.json()["results"] if t["code"] == "memo-2-tier")
    assert [(t["order"], t["quorum"]) for t in memo["tiers"]] == [(1, 2), (2, 1)]
    assert set(memo["tiers"][0]["signers"]) == {"head1", "head2", "head3"}
    assert memo["tiers"][1]["signers"] == ["director"]


def test_document_list_filters_by_role_status_and_title(personas, api_for, pdf_bytes):
    requester = api_for(personas["requester"])
    created = upload(requester, pdf_bytes, title="ขออนุมัติจัดซื้อ กระดาษ").json()
    upload(requester, pdf_bytes, title="ขอลาพักผ่อน")
    head1 = api_for(personas["head1"])

    as_signer = head1.get("/api/v1/documents/", {"role": "signer", "q": "กระดาษ"}).json()
    assert [d["id"] for d in as_signer["results"]] == [created["id"]]
    assert head1.get("/api/v1/documents/", {"role": "requester"}).json() == {"next": None, "results": []}
    assert requester.get("/api/v1/documents/", {"status": "completed", "role": "requester"}).json()["results"] == []
    # Pages follow `next` (a keyset cursor), newest first; the rows carry no route (the detail does).
    page = requester.get("/api/v1/documents/", {"limit": 1}).json()
    assert [d["title"] for d in page["results"]] == ["ขอลาพักผ่อน"] and "tiers" not in page["results"][0]
    following = requester.get(page["next"]).json()
    assert [d["id"] for d in following["results"]] == [created["id"]] and following["next"] is None

    bad = requester.get("/api/v1/documents/", {"status": "nonsense"})
    assert bad.status_code == 400 and "status must be one of" in bad.json()["detail"]
    assert requester.get("/api/v1/documents/", {"role": "boss"}).status_code == 400
    assert requester.get("/api/v1/documents/", {"sort": "id; drop"}).json()["code"] == "invalid"
    oldest = requester.get("/api/v1/documents/", {"sort": "oldest", "limit": 1}).json()["results"]
    assert [d["id"] for d in oldest] == [created["id"]]
    assert requester.get("/api/v1/documents/", {"offset": 10**30}).status_code == 200


def test_inbox_lists_only_seats_waiting_for_me(personas, api_for, pdf_bytes):
    created = upload(api_for(personas["requester"]), pdf_bytes).json()
    inbox = api_for(personas["head2"]).get("/api/v1/inbox/").json()
    item = next(i for i in inbox["results"] if i["document"]["id"] == created["id"])
    assert item["tier"] == 1 and item["document"]["requester"] == "requester"
    director_inbox = api_for(personas["director"]).get("/api/v1/inbox/").json()
    assert created["id"] not in [i["document"]["id"] for i in director_inbox["results"]]


def test_versions_and_missing_documents(personas, api_for, pdf_bytes, outsider):
    created = upload(api_for(personas["requester"]), pdf_bytes).json()
    versions = api_for(personas["requester"]).get(f"/api/v1/documents/{created['id']}/versions/").json()
    assert [(v["number"], v["kind"]) for v in versions["results"]] == [(1, "original")]
    assert len(versions["results"][0]["sha256"]) == 64

    for path in (f"/api/v1/documents/{created['id']}/", f"/api/v1/documents/{created['id']}/versions/"):
        hidden = api_for(outsider).get(path)
        assert hidden.status_code == 404 and set(hidden.json()) == {"detail", "code"}
    huge = api_for(personas["requester"]).get(f"/api/v1/documents/{10**25}/")
    assert huge.status_code == 404 and "detail" in huge.json()


@pytest.mark.parametrize("body", [[1, 2], "text", 5])
def test_a_body_that_is_not_an_object_gets_400(personas, api_for, body):
    response = api_for(personas["head1"]).post("/api/v1/batches/", body, format="json")
    assert response.status_code == 400 and response.json()["detail"]


def test_unauthenticated_requests_get_json_401(client):
    response = client.get("/api/v1/documents/")
    assert response.status_code == 401
    assert response.json()["detail"]


# --- application clients ---------------------------------------------------------------------------------


def app_client(raw_key: str, on_behalf_of: str | None):
    from rest_framework.test import APIClient

    client = APIClient()
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {raw_key}"}
    if on_behalf_of is not None:
        headers["HTTP_X_ON_BEHALF_OF"] = on_behalf_of
    client.credentials(**headers)
    return client


def test_an_application_creates_documents_on_behalf_of_a_user(personas, pdf_bytes):
    _, key = api_client_create(
        name="e-Saraban", scopes=["documents:create", "documents:read"], users=[personas["requester"]]
    )
    response = upload(app_client(key, "requester"), pdf_bytes)
    assert response.status_code == 201, response.content
    assert response.json()["requester"] == "requester"
    detail = app_client(key, "requester").get(f"/api/v1/documents/{response.json()['id']}/")
    assert detail.status_code == 200


def test_an_application_can_never_approve_or_sign(personas, pdf_bytes, api_for, otp):
    _, key = api_client_create(
        name="e-Saraban", scopes=["documents:create", "documents:read"], users=[personas["head1"]]
    )
    created = upload(api_for(personas["requester"]), pdf_bytes).json()
    as_head1 = app_client(key, "head1")
    code = otp(personas["head1"])
    for action, body in (("approve", {"otp": code}), ("reject", {"comment": "no"}), ("return", {"comment": "x"})):
        response = as_head1.post(f"/api/v1/documents/{created['id']}/{action}/", body, format="json")
        assert response.status_code == 403, (action, response.content)
        assert "Applications cannot" in response.json()["detail"]
    batch = as_head1.post("/api/v1/batches/", {"documents": [created["id"]], "otp": code}, format="json")
    assert batch.status_code == 403
    assert Document.objects.get(pk=created["id"]).assignments.filter(status="pending").count() == 4


def test_application_keys_need_a_scope_a_user_and_a_valid_key(personas, pdf_bytes):
    client, key = api_client_create(name="reader", scopes=["documents:read"], users=[personas["requester"]])
    assert upload(app_client(key, "requester"), pdf_bytes).status_code == 403
    assert app_client(key, None).get("/api/v1/documents/").status_code == 401
    assert app_client(key, "nobody").get("/api/v1/documents/").status_code == 401
    assert app_client(key + "x", "requester").get("/api/v1/documents/").status_code == 401
    assert app_client("garbage", "requester").get("/api/v1/documents/").status_code == 401
    assert app_client(key, "requester").get("/api/v1/documents/").status_code == 200

    client.allowed_users.set([personas["head1"]])
    assert app_client(key, "requester").get("/api/v1/documents/").status_code == 401
    client.active = False
    client.save()
    assert app_client(key, "head1").get("/api/v1/documents/").status_code == 401
