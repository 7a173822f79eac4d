"""Issue 20, acceptance 3 and 4: the evidence PDF, the archive record, the QR code on the memo and the
public verification page, on a memo dsign routed and signed in the test (real SoftHSM signatures).

The attacker here is a stranger: someone who found (or guesses) a link, or holds some other PDF.
"""

from __future__ import annotations

import io
import subprocess

import pytest
from django.test import Client

from audit.models import Event
from signing import archive
from tests.conftest import api_client_for, blank_pdf
from tests.signing import forgery_kit as kit
from tests.signing.conftest import bb_template  # noqa: F401 - fixture
from tests.workflows.helpers import pdf_text, upload
from workflows.models import Document, DocumentVersion

pytestmark = [pytest.mark.hsm, pytest.mark.django_db]


def _qr_codes(pdf: bytes, tmp_path, page: int = 1) -> list[str]:
    import zxingcpp
    from PIL import Image

    path = tmp_path / "page.pdf"
    path.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", "-f", str(page), "-l", str(page), str(path), str(tmp_path / "page")],
        check=True,
    )
    image = next(tmp_path.glob("page-*.png"))
    found = [result.text for result in zxingcpp.read_barcodes(Image.open(image))]
    image.unlink()
    return found


@pytest.fixture
def completed(bb_template, api_for, personas, otp):  # noqa: F811 - the fixture
    """(document id, final PDF) of a memo-2-tier memo completed by 2 of 3 heads and the director."""
    document_id, data = kit.complete(api_for=api_for, personas=personas, otp=otp, pdf=blank_pdf())
    return document_id, data


def test_the_qr_code_on_the_memo_opens_the_public_page_without_signing_in(completed, personas, tmp_path):
    document_id, final = completed
    document = Document.objects.get(pk=document_id)
    detail = api_client_for(personas["requester"]).get(f"/api/v1/documents/{document_id}/").json()
    url = detail["verification_url"]
    assert url and document.verification_token in url and url.rsplit("/v/", 1)[1].strip("/") != str(document_id)

    # the QR code is in the version the route started with, so every signature covers it
    original = document.versions.get(kind=DocumentVersion.Kind.ORIGINAL)
    from workflows.signing_handler import version_read

    assert _qr_codes(version_read(original), tmp_path) == [url]
    assert _qr_codes(final, tmp_path) == [url]
    assert url in pdf_text(final)
    report = kit.verify(final)
    assert report["valid"] is True and len(report["signatures"]) == 3, report["problems"]

    stranger = Client()
    page = stranger.get(url.replace(_base(), ""))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="verdict"' in html and "ลายมือชื่อทุกรายการถูกต้อง" in html
    for name in ("head1", "head2", "director"):
        person = personas[name]
        assert person.full_name_th in html and (person.position or "") in html
        assert f">{name}<" not in html and (person.email or "@@") not in html  # no usernames, no addresses
    assert "head3" not in html and personas["head3"].full_name_th not in html  # not needed, not signed
    from workflows.selectors import archive_version, latest_version

    assert latest_version(document).sha256 in html and archive_version(document).sha256 in html
    assert "2569" in html  # Buddhist-era times

    # a copy that is the final file matches; any other PDF, even a dsign one, does not
    path = url.replace(_base(), "")
    same = stranger.post(path, {"file": _upload("copy.pdf", final)})
    assert same.status_code == 200 and 'data-matches="yes"' in same.content.decode()
    archived = version_read(archive_version(document))
    assert 'data-matches="yes"' in stranger.post(path, {"file": _upload("a.pdf", archived)}).content.decode()
    other = stranger.post(path, {"file": _upload("other.pdf", blank_pdf(text="another"))})
    assert other.status_code == 200
    assert 'data-matches="no"' in other.content.decode() and "ไม่ตรงกับเอกสารฉบับนี้" in other.content.decode()
    events = Event.objects.filter(action="document.public_compared", target_id=str(document_id)).order_by("id")
    assert [e.details["matches"] for e in events] == [True, True, False]


def _base() -> str:
    from django.conf import settings

    return settings.BASE_URL


def _upload(name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="application/pdf")


def test_evidence_pdf_names_signers_seats_factors_certificates_and_every_version(completed, personas, outsider):
    document_id, _ = completed
    document = Document.objects.get(pk=document_id)
    response = api_client_for(personas["requester"]).get(f"/api/v1/documents/{document_id}/evidence/")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    pdf = b"".join(response.streaming_content)
    text = pdf_text(pdf)
    assert "หนังสือรับรองการลงนามอิเล็กทรอนิกส์" in text and document.title in text
    assert "ลายมือชื่อทุกรายการถูกต้อง" in text
    from certificates.selectors import certificate_for_signing

    for name in ("head1", "head2", "director"):
        person = personas[name]
        assert person.full_name_th in text
        assert certificate_for_signing(user=person).serial_number in text.replace("\n", "")
    squeezed = "".join(text.split())
    for version in document.versions.all():
        assert version.sha256 in squeezed
    assert "รหัสสำรอง" in text and "AAL1" in text  # the tests' code is a backup code (AAL1)
    assert "2569" in text and "2026" not in text  # Buddhist era only
    assert Event.objects.filter(action="document.evidence_downloaded", actor=personas["requester"]).count() == 1

    # the document page links the evidence and the public page
    from django.test import Client as PageClient

    pages = PageClient()
    pages.force_login(personas["requester"])
    page = pages.get(f"/documents/{document_id}/").content.decode()
    assert f'href="/api/v1/documents/{document_id}/evidence/"' in page and "หนังสือรับรองการลงนาม" in page
    assert f'href="{_base()}/v/{document.verification_token}/"' in page

    # only those who may see the document get it
    assert api_client_for(outsider).get(f"/api/v1/documents/{document_id}/evidence/").status_code == 404

    # the archive record carries the same facts, ISO 8601 times, the PDF/A claim only because fonts are embedded
    from workflows.services.documents import archive_copy_make

    archive_copy_make(document_id=document_id)
    copy = b"".join(
        api_client_for(personas["requester"]).get(f"/api/v1/documents/{document_id}/archive/").streaming_content
    )
    record = archive.archive_record_read(pdf=copy)
    assert record["pdfa"] == {
        "claimed": "PDF/A-3B",
        "fonts_not_embedded": [],
        "checked": record["pdfa"]["checked"],
    }
    signers = {s["signer"]: s for s in record["signers"]}
    assert set(signers) == {"head1", "head2", "director"}
    for name, signer in signers.items():
        assert signer["certificate_serial"] == certificate_for_signing(user=personas[name]).serial_number
        assert signer["factor"] == "backup" and signer["aal"] == 1 and signer["seat"].startswith("Sig")
        assert signer["signed_at"].endswith("+07:00") and "T" in signer["signed_at"]
    assert {d["seat_holder"] for d in record["decisions"]} >= {"head1", "head2", "head3", "director"}
    assert [v["sha256"] for v in record["versions"]] == [
        v.sha256 for v in document.versions.order_by("number") if v.kind != DocumentVersion.Kind.ARCHIVE
    ]
    assert all("T" in v["created_at"] for v in record["versions"])


def test_evidence_of_a_document_not_completed_is_409_with_a_code(personas):
    created = upload(personas["requester"], blank_pdf())
    response = api_client_for(personas["requester"]).get(f"/api/v1/documents/{created['id']}/evidence/")
    assert response.status_code == 409 and response.json()["code"] == "not_completed"
    assert (
        api_client_for(personas["requester"]).get(f"/api/v1/documents/{created['id']}/").json()["verification_url"]
        is None
    )


def test_guessed_or_unfinished_tokens_are_the_same_404_and_leak_no_title(personas):
    created = upload(personas["requester"], blank_pdf(), title="ลับเฉพาะ เรื่องงบประมาณ")
    document = Document.objects.get(pk=created["id"])
    assert document.verification_token and len(document.verification_token) >= 22
    stranger = Client()
    pages = [
        stranger.get(f"/v/{document.verification_token}/"),  # real, but the document is still in progress
        stranger.get(f"/v/{document.pk}/"),  # the id is not the key
        stranger.get("/v/AAAAAAAAAAAAAAAAAAAAAA/"),
        stranger.get(f"/v/{document.verification_token[:-1]}x/"),
        stranger.get("/v/" + "a" * 300 + "/"),
    ]
    assert [p.status_code for p in pages] == [404] * 5
    bodies = {p.content for p in pages}
    assert all("ลับเฉพาะ".encode() not in body for body in bodies)
    assert (
        stranger.post(f"/v/{document.verification_token}/", {"file": _upload("x.pdf", blank_pdf())}).status_code == 404
    )
    assert not Event.objects.filter(action="document.public_compared").exists()


def test_the_public_page_is_rate_limited_per_address(db, monkeypatch):
    from django.core.cache import cache
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"public_verify": "3/min"})
    cache.clear()
    try:
        stranger = Client()
        codes = [stranger.get("/v/AAAAAAAAAAAAAAAAAAAAAA/").status_code for _ in range(5)]
        assert codes == [404, 404, 404, 429, 429]
    finally:
        cache.clear()


def test_the_stamp_reads_no_resource_and_keeps_the_page_size():
    import pikepdf

    from signing.qr_stamp import qr_stamp, stamp_area

    stamped = qr_stamp(pdf=blank_pdf(pages=2), url="https://dsign.example/v/abc/")
    with pikepdf.open(io.BytesIO(stamped)) as pdf:
        assert len(pdf.pages) == 2 and [float(v) for v in pdf.pages[0].mediabox] == [0, 0, 595, 842]
        assert "/XObject" in pdf.pages[0].Resources and "/XObject" not in (pdf.pages[1].get("/Resources") or {})
    x1, y1, x2, y2 = stamp_area(page_width=595, page_height=842)
    assert x2 <= 595 - 12 and y2 <= 842 - 8 and y1 >= 842 - 56  # in the top margin, off the page edges


def test_an_oversized_upload_to_the_public_page_is_refused_before_the_verifier(personas, settings):
    created = upload(personas["requester"], blank_pdf())
    Document.objects.filter(pk=created["id"]).update(status="completed")
    token = Document.objects.get(pk=created["id"]).verification_token
    settings.MAX_UPLOAD_BYTES = 2000
    response = Client().post(f"/v/{token}/", {"file": _upload("big.pdf", blank_pdf() + b"%" * 3000)})
    assert response.status_code == 400 and "ไฟล์ใหญ่เกิน" in response.content.decode()
    assert not Event.objects.filter(action__in=["document.public_compared", "document.verified"]).exists()
