"""The walking skeleton over HTTP: upload, approve with OTP, signed by a django-q2 task with the HSM key."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from signing.models import PadesLevel
from tests.support.pdfsig import assert_pdfsig_all_valid, pdfsig_report
from workflows.models import Document, DocumentVersion, WorkflowTemplate

pytestmark = [pytest.mark.hsm, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def bb_template(db):
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    template.pades_level = PadesLevel.B_B
    template.save()
    return template


def upload(client, data: bytes, *, title="บันทึกข้อความ ทดสอบ", workflow="memo-2-tier"):
    return client.post(
        "/api/v1/documents/",
        {
            "file": SimpleUploadedFile("memo.pdf", data, content_type="application/pdf"),
            "title": title,
            "workflow": workflow,
        },
        format="multipart",
    )


def test_head1_approval_is_signed_with_their_hsm_key_and_pdfsig_trusts_it(
    personas, api_for, otp, pdf_bytes, bb_template, tmp_path, client
):
    response = upload(api_for(personas["requester"]), pdf_bytes)
    assert response.status_code == 201, response.content
    document_id = response.json()["id"]
    assert response.json()["status"] == "in_progress"

    head1 = api_for(personas["head1"])
    response = head1.post(f"/api/v1/documents/{document_id}/approve/", {"otp": otp(personas["head1"])}, format="json")
    assert response.status_code == 202, response.content

    detail = head1.get(f"/api/v1/documents/{document_id}/").json()
    seat = next(a for a in detail["tiers"][0]["assignments"] if a["signer"] == "head1")
    assert seat["status"] == "signed"
    assert DocumentVersion.objects.filter(document_id=document_id, kind="signed").count() == 1

    signed = head1.get(f"/api/v1/documents/{document_id}/file/")
    assert signed.status_code == 200 and signed["Content-Type"] == "application/pdf"
    path = tmp_path / "signed.pdf"
    path.write_bytes(b"".join(signed.streaming_content))
    root = client.get("/pki/root.crt").content
    report = pdfsig_report(path, [root], tmp_path)
    assert_pdfsig_all_valid(report, 1)
    assert "นายสมชาย รักงาน" in report


@pytest.mark.parametrize(
    "payload, expected",
    [
        ({"content": b"hello, not a pdf", "workflow": "memo-2-tier"}, "ไม่ใช่ PDF"),
        ({"content": b"", "workflow": "memo-2-tier"}, "ว่างเปล่า"),
        ({"content": b"%PDF-1.7\n garbage", "workflow": "memo-2-tier"}, "เสียหาย"),
        ({"content": None, "workflow": "no-such-template"}, "ไม่รู้จักแม่แบบเส้นทาง"),
    ],
)
def test_bad_upload_gets_a_clear_4xx_and_stores_nothing(personas, api_for, pdf_bytes, payload, expected):
    content = pdf_bytes if payload["content"] is None else payload["content"]
    before = Document.objects.count(), DocumentVersion.objects.count()
    response = upload(api_for(personas["requester"]), content, workflow=payload["workflow"])
    assert response.status_code == 400
    assert expected in response.json()["detail"]
    assert (Document.objects.count(), DocumentVersion.objects.count()) == before


def test_oversized_upload_gets_413_and_stores_nothing(personas, api_for, settings):
    settings.MAX_UPLOAD_BYTES = 1000
    before = Document.objects.count()
    response = upload(api_for(personas["requester"]), b"%PDF-1.7\n" + b"0" * 2000)
    assert response.status_code == 413
    assert "เกิน" in response.json()["detail"]
    assert Document.objects.count() == before
