"""Return → revise → resubmit over the API: only the requester, only a returned document; the returned-to
tier decides again and the history keeps both versions and both rounds."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import Event
from signing.models import PadesLevel
from tests.conftest import api_client_for, blank_pdf
from tests.workflows.helpers import approve, detail, upload
from workflows.models import DocumentVersion, WorkflowTemplate

pytestmark = [pytest.mark.hsm, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture(autouse=True)
def bb_template(db):
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    template.pades_level = PadesLevel.B_B
    template.save()
    return template


def send_back(user, document_id: int, comment: str = "แก้ไขวันที่"):
    response = api_client_for(user).post(
        f"/api/v1/documents/{document_id}/return/", {"comment": comment}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def resubmit(user, document_id: int, *, pdf: bytes | None = None, comment: str = "แก้ไขแล้ว", lang: str = "th"):
    body = {"comment": comment}
    if pdf is not None:
        body["file"] = SimpleUploadedFile("revised.pdf", pdf, content_type="application/pdf")
    return api_client_for(user).post(
        f"/api/v1/documents/{document_id}/resubmit/", body, format="multipart", HTTP_ACCEPT_LANGUAGE=lang
    )


def seats(document: dict, order: int) -> dict[str, str]:
    tier = next(t for t in document["tiers"] if t["order"] == order)
    return {s["signer"]: s["status"] for s in tier["assignments"]}


def test_revised_file_is_resubmitted_and_the_first_tier_decides_again(personas):
    doc = upload(personas["requester"], blank_pdf())
    assert approve(personas["head1"], doc["id"]).status_code == 202
    assert approve(personas["head2"], doc["id"]).status_code == 202
    send_back(personas["director"], doc["id"])

    response = resubmit(personas["requester"], doc["id"], pdf=blank_pdf(2))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "in_progress" and body["round"] == 2
    # The revised file carries none of the first tier's signatures, so that tier is asked again.
    assert seats(body, 1) == {"head1": "pending", "head2": "pending", "head3": "pending"}
    assert next(t for t in body["tiers"] if t["order"] == 2)["status"] == "pending"
    kinds = list(
        DocumentVersion.objects.filter(document_id=doc["id"]).order_by("number").values_list("kind", flat=True)
    )
    assert kinds == ["original", "signed", "signed", "revision"]
    assert approve(personas["head3"], doc["id"]).status_code == 202
    event = Event.objects.get(action="document.resubmitted", target_id=str(doc["id"]))
    assert event.details["revised"] is True and event.details["from_tier"] == 1


def test_without_a_new_file_the_route_restarts_at_the_tier_that_returned_it(personas):
    doc = upload(personas["requester"], blank_pdf())
    assert approve(personas["head1"], doc["id"]).status_code == 202
    assert approve(personas["head2"], doc["id"]).status_code == 202
    send_back(personas["director"], doc["id"], "ขอเอกสารแนบเพิ่ม")
    response = resubmit(personas["requester"], doc["id"], comment="แนบเอกสารเพิ่มแล้ว")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "in_progress"
    assert seats(body, 1) == {"head1": "signed", "head2": "signed", "head3": "not_needed"}
    assert seats(body, 2) == {"director": "pending"}
    assert approve(personas["director"], doc["id"]).status_code == 202
    assert detail(personas["requester"], doc["id"])["status"] == "completed"


def test_only_the_requester_may_resubmit_and_only_a_returned_document(personas):
    doc = upload(personas["requester"], blank_pdf())
    refused = resubmit(personas["requester"], doc["id"])
    assert refused.status_code == 409
    assert "ส่งกลับ" in refused.json()["detail"]  # Thai first, as the request asked
    send_back(personas["head1"], doc["id"])
    signer = resubmit(personas["head1"], doc["id"], lang="en")
    assert signer.status_code == 403 and signer.json()["detail"] == "Only the requester can resubmit this document."
    assert resubmit(personas["auditor"], doc["id"]).status_code in (403, 404)
    broken = resubmit(personas["requester"], doc["id"], pdf=b"not a pdf")
    assert broken.status_code == 400
    assert detail(personas["requester"], doc["id"])["status"] == "returned"  # nothing changed


def _fields(data: bytes) -> tuple[list[str], list[str]]:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import enumerate_sig_fields

    reader = PdfFileReader(io.BytesIO(data))
    names = sorted(name for name, _, _ in enumerate_sig_fields(reader))
    signed = sorted(name for name, _, _ in enumerate_sig_fields(reader, filled_status=True))
    return names, signed


def test_a_return_to_an_earlier_tier_restarts_on_the_version_before_its_signatures(personas):
    """The first signature certified the file and made every seat's field; a certified file takes no new
    field, so the seats that sign again reuse theirs, on the version before the dropped signatures."""
    from signing.selectors import verification_trust_roots
    from signing.verification import verify_pdf_bytes
    from tests.workflows.helpers import latest_file

    doc = upload(personas["requester"], blank_pdf())
    assert approve(personas["head1"], doc["id"]).status_code == 202
    assert approve(personas["head2"], doc["id"]).status_code == 202
    back = api_client_for(personas["director"]).post(
        f"/api/v1/documents/{doc['id']}/return/", {"comment": "ขอให้หัวหน้างานทบทวน", "to_tier": 1}, format="json"
    )
    assert back.status_code == 200, back.content
    versions = list(DocumentVersion.objects.filter(document_id=doc["id"]).order_by("number"))
    assert [v.kind for v in versions] == ["original", "signed", "signed", "revision"]
    assert versions[-1].sha256 == versions[0].sha256  # the heads sign again on what they first saw
    event = Event.objects.get(action="route.round_started", target_id=str(doc["id"]))
    assert event.details["restarted_from_version"] == 1

    assert approve(personas["head1"], doc["id"]).status_code == 202
    assert approve(personas["head3"], doc["id"]).status_code == 202
    assert approve(personas["director"], doc["id"]).status_code == 202
    body = detail(personas["requester"], doc["id"])
    assert body["status"] == "completed", body
    final = latest_file(personas["requester"], doc["id"])
    names, signed = _fields(final)
    assert names == ["Sig1_r1", "Sig2_r1", "Sig3_r1", "Sig4_r1"]  # round 2 reused round 1's fields
    assert signed == ["Sig1_r1", "Sig3_r1", "Sig4_r1"]
    report = verify_pdf_bytes(data=final, trust_roots=verification_trust_roots())
    assert report["valid"] is True, report["problems"]


def test_without_a_new_file_the_director_signs_the_field_made_by_the_first_signature(personas):
    from tests.workflows.helpers import latest_file

    doc = upload(personas["requester"], blank_pdf())
    assert approve(personas["head1"], doc["id"]).status_code == 202
    assert approve(personas["head2"], doc["id"]).status_code == 202
    certified, _ = _fields(latest_file(personas["requester"], doc["id"]))
    send_back(personas["director"], doc["id"])
    assert resubmit(personas["requester"], doc["id"]).status_code == 200
    assert approve(personas["director"], doc["id"]).status_code == 202
    assert detail(personas["requester"], doc["id"])["status"] == "completed"
    names, signed = _fields(latest_file(personas["requester"], doc["id"]))
    assert names == certified == ["Sig1_r1", "Sig2_r1", "Sig3_r1", "Sig4_r1"]
    assert signed == ["Sig1_r1", "Sig2_r1", "Sig4_r1"]
