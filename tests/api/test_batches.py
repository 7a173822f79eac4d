"""Batch signing over the API: one OTP, each document approved on its own, progress readable."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from signing.models import PadesLevel, SigningJob
from workflows.models import Assignment, WorkflowTemplate

pytestmark = [pytest.mark.hsm, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def upload(client, pdf: bytes) -> int:
    response = client.post(
        "/api/v1/documents/",
        {
            "file": SimpleUploadedFile("m.pdf", pdf, content_type="application/pdf"),
            "title": "memo",
            "workflow": "memo-2-tier",
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_one_otp_signs_several_documents_and_refusals_do_not_stop_the_others(personas, api_for, pdf_bytes, otp):
    WorkflowTemplate.objects.filter(code="memo-2-tier").update(pades_level=PadesLevel.B_B)
    requester = api_for(personas["requester"])
    first, second, decided = upload(requester, pdf_bytes), upload(requester, pdf_bytes), upload(requester, pdf_bytes)
    head1 = api_for(personas["head1"])
    assert head1.post(f"/api/v1/documents/{decided}/reject/", {"comment": "no"}, format="json").status_code == 200

    response = head1.post(
        "/api/v1/batches/",
        {"documents": [first, second, decided, 10**12], "otp": otp(personas["head1"], "135790")},
        format="json",
        HTTP_IDEMPOTENCY_KEY="batch-1",
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["total"] == 2
    assert {e["document"] for e in body["errors"]} == {decided, 10**12}

    progress = head1.get(f"/api/v1/batches/{body['id']}/").json()
    assert progress["total"] == 2 and progress["done"] == 2 and progress["finished"] == 2
    assert SigningJob.objects.filter(batch_id=body["id"]).count() == 2
    assert (
        Assignment.objects.filter(document_id__in=[first, second], signer=personas["head1"], status="signed").count()
        == 2
    )

    replay = head1.post(
        "/api/v1/batches/",
        {"documents": [first, second, decided, 10**12], "otp": otp(personas["head1"], "135790")},
        format="json",
        HTTP_IDEMPOTENCY_KEY="batch-1",
    )
    assert replay.status_code == 202 and replay.json() == body
    assert SigningJob.objects.filter(batch__isnull=False).count() == 2

    assert api_for(personas["head2"]).get(f"/api/v1/batches/{body['id']}/").status_code == 404


def test_a_wrong_otp_approves_nothing_and_nothing_approvable_gets_409(personas, api_for, pdf_bytes, otp):
    document = upload(api_for(personas["requester"]), pdf_bytes)
    head1 = api_for(personas["head1"])
    otp(personas["head1"])
    wrong = head1.post("/api/v1/batches/", {"documents": [document], "otp": "000000"}, format="json")
    assert wrong.status_code == 403
    assert Assignment.objects.get(document_id=document, signer=personas["head1"]).status == "pending"

    director = api_for(personas["director"])
    refused = director.post(
        "/api/v1/batches/", {"documents": [document], "otp": otp(personas["director"])}, format="json"
    )
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["document"] == document
