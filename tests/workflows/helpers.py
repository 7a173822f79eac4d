"""Helpers of the workflow tests: drive the API as the personas and read what the signed file holds."""

from __future__ import annotations

import io
import subprocess
import tempfile
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from pyhanko.pdf_utils.reader import PdfFileReader

from tests.conftest import api_client_for, make_otp


def upload(user, data: bytes, *, title: str = "บันทึกข้อความ ทดสอบ", workflow: str = "memo-2-tier") -> dict:
    response = api_client_for(user).post(
        "/api/v1/documents/",
        {
            "file": SimpleUploadedFile("memo.pdf", data, content_type="application/pdf"),
            "title": title,
            "workflow": workflow,
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    return response.json()


def approve(user, document_id: int, *, comment: str = ""):
    return api_client_for(user).post(
        f"/api/v1/documents/{document_id}/approve/", {"otp": make_otp(user), "comment": comment}, format="json"
    )


def detail(user, document_id: int) -> dict:
    response = api_client_for(user).get(f"/api/v1/documents/{document_id}/")
    assert response.status_code == 200, response.content
    return response.json()


def latest_file(user, document_id: int) -> bytes:
    response = api_client_for(user).get(f"/api/v1/documents/{document_id}/file/")
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content)


def signature_fields(pdf: bytes) -> dict[str, dict]:
    """Field name -> {"reason"} of every approval signature inside the file (document timestamps aside)."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    found = {}
    for signature in reader.embedded_regular_signatures:
        reason = signature.sig_object.get("/Reason")
        found[signature.field_name] = {"reason": str(reason) if reason is not None else None}
    return found


def signed_seats(document: dict) -> dict[str, str]:
    """Field name -> signer of the seats the API detail says are signed."""
    return {
        seat["field"]: seat["signer"]
        for tier in document["tiers"]
        for seat in tier["assignments"]
        if seat["status"] == "signed"
    }


def pdf_text(pdf: bytes) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "doc.pdf"
        path.write_bytes(pdf)
        return subprocess.run(
            ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, timeout=60
        ).stdout.decode()
