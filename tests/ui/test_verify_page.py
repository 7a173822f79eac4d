"""The verify page's labels follow the verdict: no ✔ next to a problem, no problem line twice."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.signing.conftest import bb_template  # noqa: F401
from tests.signing.test_verify_cli_api import changed_after_signing, dsign_signed  # noqa: F401

pytestmark = [pytest.mark.hsm, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_a_document_changed_after_signing_shows_no_tick_and_each_problem_once(client, personas, dsign_signed):  # noqa: F811
    client.force_login(personas["requester"])
    changed = changed_after_signing(dsign_signed)
    html = client.post("/verify/", {"file": SimpleUploadedFile("changed.pdf", changed)}).content.decode()
    assert "ไม่ถูกต้อง" in html
    unchanged = re.findall(r'<dd class="unchanged">(.*?)</dd>', html)
    assert unchanged and all("✔" not in cell for cell in unchanged)
    assert "ถูกแก้ไขหลังลงนาม" in unchanged[0]
    problems = re.findall(r"<li>(.*?)</li>", html.split('id="report"')[1])
    assert problems and len(problems) == len(set(problems))

    intact = client.post("/verify/", {"file": SimpleUploadedFile("ok.pdf", dsign_signed)}).content.decode()
    assert re.findall(r'<dd class="unchanged">(.*?)</dd>', intact) == ["✔"]
