"""Workflow templates keep the box positions of an uploaded form of a recurring kind (issue 20): an IT
administrator saves them from the composer, and the next upload of that form starts from them."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.conftest import api_client_for, blank_pdf
from workflows.models import Document, WorkflowTemplate

pytestmark = pytest.mark.django_db

BOXES = {
    "head1": {"page": 0, "box": [40.0, 600.0, 200.0, 660.0]},
    "head2": {"page": 0, "box": [210.0, 600.0, 370.0, 660.0]},
    "head3": {"page": 0, "box": [380.0, 600.0, 540.0, 660.0]},
    "director": {"page": 0, "box": [380.0, 500.0, 540.0, 560.0]},
}


def compose_upload(client, *, title: str, save: bool):
    fields = {
        "source": "upload",
        "workflow": "memo-2-tier",
        "title": title,
        "placements": json.dumps(BOXES),
        "file": SimpleUploadedFile("form.pdf", blank_pdf(), content_type="application/pdf"),
    }
    if save:
        fields["save_positions"] = "on"
    return client.post("/documents/new/", fields, HTTP_X_COMPOSER="1")


def test_an_office_user_cannot_change_the_templates_positions_and_nothing_is_sent(client, personas):
    client.force_login(personas["requester"])
    response = compose_upload(client, title="แบบฟอร์มขอลา", save=True)
    assert response.status_code == 400, response.content
    assert WorkflowTemplate.objects.get(code="memo-2-tier").box_positions == []
    assert not Document.objects.filter(title="แบบฟอร์มขอลา").exists()
    # The page offers the choice to IT administrators only.
    assert "save_positions" not in client.get("/documents/new/").content.decode()


def test_positions_saved_by_an_it_admin_start_the_next_upload_of_the_form(client, personas):
    client.force_login(personas["admin"])
    assert 'name="save_positions"' in client.get("/documents/new/").content.decode()
    response = compose_upload(client, title="แบบฟอร์มขอลา ครั้งแรก", save=True)
    assert response.status_code == 200, response.content
    saved = WorkflowTemplate.objects.get(code="memo-2-tier").box_positions
    assert saved == [BOXES[name] for name in ("head1", "head2", "head3", "director")]

    # The composer offers them to the next person composing that form...
    client.force_login(personas["requester"])
    offered = client.get("/documents/new/signers/?workflow=memo-2-tier")
    assert offered.json()["saved"] == BOXES
    # ...and an upload without placements (the API) gets them.
    created = api_client_for(personas["requester"]).post(
        "/api/v1/documents/",
        {
            "title": "แบบฟอร์มขอลา ครั้งที่สอง",
            "workflow": "memo-2-tier",
            "file": SimpleUploadedFile("form.pdf", blank_pdf(), content_type="application/pdf"),
        },
        format="multipart",
    )
    assert created.status_code == 201, created.content
    seats = {
        s["signer"]: {"page": s["page"], "box": s["box"]} for t in created.json()["tiers"] for s in t["assignments"]
    }
    assert seats == BOXES


def test_saved_positions_that_do_not_fit_a_file_fall_back_to_the_automatic_boxes(personas):
    WorkflowTemplate.objects.filter(code="memo-2-tier").update(
        box_positions=[{"page": 3, "box": [1, 2, 3, 4]}, "junk", {"page": 0, "box": [40, 600, 200, 660]}]
    )
    created = api_client_for(personas["requester"]).post(
        "/api/v1/documents/",
        {
            "title": "ไฟล์หน้าเดียว",
            "workflow": "memo-2-tier",
            "file": SimpleUploadedFile("form.pdf", blank_pdf(), content_type="application/pdf"),
        },
        format="multipart",
    )
    assert created.status_code == 201, created.content
    boxes = [s["box"] for t in created.json()["tiers"] for s in t["assignments"]]
    assert boxes[2] == [40.0, 600.0, 200.0, 660.0]
    assert all(box and box[1] < 300 for i, box in enumerate(boxes) if i != 2)  # automatic: bottom of the page
