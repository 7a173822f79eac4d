"""Tracking: after every step the API detail, the timeline and the signatures inside the file agree.

Runs the memo-2-tier route at B-LTA against the live server (TSA, OCSP and CRL served by the app), so the
last step adds the document timestamp, and the archive copy is made after completion.
"""

from __future__ import annotations

import io

import pikepdf
import pytest

from certificates.selectors import trust_roots_list
from signing.verification import verify_pdf_bytes
from tests.conftest import api_client_for
from tests.workflows.helpers import approve, detail, latest_file, signature_fields, signed_seats, upload
from workflows import tasks
from workflows.models import DocumentVersion

pytestmark = [pytest.mark.hsm, pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def timeline(user, document_id: int) -> list[dict]:
    response = api_client_for(user).get(f"/api/v1/documents/{document_id}/timeline/")
    assert response.status_code == 200, response.content
    return response.json()


def assert_consistent(user, document_id: int) -> dict:
    """API detail == signatures in the latest file == signature events of the timeline."""
    body = detail(user, document_id)
    in_file = signature_fields(latest_file(user, document_id))
    shown = signed_seats(body)
    assert set(shown) == set(in_file), (shown, in_file)
    events = timeline(user, document_id)
    made = {e["details"]["field"]: e["details"]["signer"] for e in events if e["action"] == "signing.signature_made"}
    assert made == shown
    approved = {e["details"]["field"] for e in events if e["action"] == "document.approved" and e["actor"] is not None}
    assert set(shown) <= approved
    waiting = [e for e in events if e["action"] == "waiting"]
    if body["status"] == "in_progress":
        assert len(waiting) == 1 and events[-1] is waiting[0]
        active = [t for t in body["tiers"] if t["status"] == "active"]
        pending = sorted(s["signer"] for t in active for s in t["assignments"] if s["status"] == "pending")
        assert sorted(s["username"] for s in waiting[0]["details"]["signers"]) == pending
    else:
        assert waiting == []
    return body


def test_detail_timeline_and_file_agree_at_every_step(personas, pdf_bytes, live_server):
    doc = upload(personas["requester"], pdf_bytes)
    body = assert_consistent(personas["requester"], doc["id"])
    assert signed_seats(body) == {}

    assert approve(personas["head1"], doc["id"]).status_code == 202
    assert set(signed_seats(assert_consistent(personas["requester"], doc["id"])).values()) == {"head1"}

    assert approve(personas["head3"], doc["id"]).status_code == 202
    body = assert_consistent(personas["requester"], doc["id"])
    assert [s["status"] for s in body["tiers"][0]["assignments"]] == ["signed", "not_needed", "signed"]
    assert body["tiers"][1]["status"] == "active"
    waiting = [e for e in timeline(personas["requester"], doc["id"]) if e["action"] == "waiting"][0]
    assert waiting["details"]["tier"] == 2 and waiting["details"]["signers"][0]["username"] == "director"

    assert approve(personas["head2"], doc["id"]).status_code == 409
    assert approve(personas["director"], doc["id"]).status_code == 202
    body = assert_consistent(personas["requester"], doc["id"])
    assert body["status"] == "completed", body["waiting_reason"]
    actions = [e["action"] for e in timeline(personas["requester"], doc["id"])]
    assert actions.count("signing.signature_made") == 3
    assert "signing.document_timestamped" in actions and actions[-1] in ("document.completed", "document.archived")

    archive = DocumentVersion.objects.filter(document_id=doc["id"], kind="archive").get()
    latest = latest_file(personas["requester"], doc["id"])
    with pikepdf.open(io.BytesIO(archive.file.open("rb").read())) as pdf:
        names = set(pdf.attachments)
    assert names, "the archive copy carries the signing record"
    assert archive.number > DocumentVersion.objects.get(document_id=doc["id"], kind="timestamped").number
    assert len(latest) > 0
    report = verify_pdf_bytes(data=archive.file.open("rb").read(), trust_roots=trust_roots_list())
    assert [s["field"] for s in report["signatures"]][:3] == sorted(signed_seats(body), key=lambda f: int(f[3:-3]))
    assert all(s["intact"] for s in report["signatures"]), report
    assert tasks.renew_archive_timestamps() == 0  # the TSA certificate is years from expiry
    assert tasks.make_archive_copy(doc["id"]) == archive.number  # idempotent
