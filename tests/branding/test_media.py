"""Uploaded branding files are served by the app; nothing else in the media storage is."""

import io
import re
import subprocess

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from branding.models import Branding
from tests.conftest import admin_login


def _png(colour=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 20), colour).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def uploaded_logo(personas, client):
    """A logo uploaded through the admin form, as an administrator does it."""
    admin_login(client, personas["admin"])
    Branding.objects.all().delete()
    logo = ContentFile(_png(), name="org-logo.png")
    response = client.post(
        "/admin/branding/branding/add/",
        {"organisation_name": "สำนักงานทดสอบ", "organisation_name_en": "Test Office", "logo": logo},
    )
    assert response.status_code == 302, response.content[:500]
    client.logout()
    return Branding.objects.get(pk=1)


def test_logo_uploaded_in_admin_shows_on_the_sign_in_page(uploaded_logo, client):
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    src = re.search(r'<img src="([^"]+)"[^>]*id="brand-logo"', page.content.decode())[1]
    assert src == uploaded_logo.logo.url and src.startswith("/media/branding/")
    image = client.get(src)
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert image["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in image["Content-Security-Policy"]
    assert b"".join(image.streaming_content) == uploaded_logo.logo.read()


@pytest.mark.django_db
def test_document_files_and_odd_names_are_not_served(client):
    private = default_storage.save("documents/2026/12/secret.pdf", ContentFile(b"%PDF-1.7 secret"))
    svg = default_storage.save("branding/x.svg", ContentFile(b"<svg onload='alert(1)'/>"))
    for path in (
        f"/media/{private}",
        "/media/branding/../" + private,
        "/media/branding/..%2F" + private.replace("/", "%2F"),
        "/media/branding/%2e%2e%2fdocuments%2f2026%2f12%2fsecret.pdf",
        f"/media/{svg}",
        "/media/branding/missing.png",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"secret" not in b"".join(getattr(response, "streaming_content", [response.content]))
    assert client.post("/media/" + svg).status_code in (404, 405)


def test_workflow_email_carries_the_uploaded_logo_inline(uploaded_logo, personas):
    from workflows.notifications import notification_email_build

    message = notification_email_build(user=personas["head1"], subject="มีเอกสารรอลงนาม", document_id=None)
    html = message.alternatives[0][0]
    assert 'src="cid:logo"' in html
    images = [part for part in message.attachments if getattr(part, "get_content_maintype", lambda: "")() == "image"]
    assert len(images) == 1 and images[0]["Content-ID"] == "<logo>"
    assert images[0].get_payload(decode=True) == uploaded_logo.logo.read()


def test_report_pdf_carries_the_logo_and_organisation_name(uploaded_logo, tmp_path):
    from reports.pdf import report_pdf_render
    from reports.selectors import period_month

    data = {
        key: []
        for key in (
            "signatures_per_day time_per_tier transactions_per_day transactions failed_jobs failed_events "
            "certificates certificate_admin_log events_per_action"
        ).split()
    }
    pdf = report_pdf_render(
        period=period_month(year=2026, month=1), data=data, counts={}, filters={}, generated_at=timezone.now()
    )
    out = tmp_path / "r.pdf"
    out.write_bytes(pdf)
    listing = subprocess.run(["pdfimages", "-list", str(out)], capture_output=True, text=True, check=True).stdout
    assert len(listing.splitlines()) == 3 and " 40 " in listing.splitlines()[2]  # header, rule, the logo
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
    assert "สำนักงานทดสอบ" in text


def test_a_workflow_email_sent_through_the_ledger_carries_the_logo_inline(uploaded_logo, personas):
    """Issue 20 acceptance 5 (e-mail half): a real route notification, queued in the outgoing e-mail ledger
    and sent by its task, arrives as multipart/related with the uploaded logo as the cid:logo image."""
    import email

    from django.core import mail

    from mailer import tasks
    from mailer.models import OutgoingEmail
    from tests.conftest import blank_pdf
    from tests.workflows.helpers import upload

    upload(personas["requester"], blank_pdf(), title="บันทึกข้อความ ขออนุมัติ")
    rows = OutgoingEmail.objects.filter(kind__startswith="workflow").order_by("-id")
    row = next(r for r in rows if personas["head1"].email in r.to)
    mail.outbox.clear()
    tasks.send_email(row.pk)
    (sent,) = mail.outbox
    parsed = email.message_from_bytes(sent.message().as_bytes())
    related = [part for part in parsed.walk() if part.get_content_type() == "multipart/related"]
    assert related, parsed.get_content_type()
    html = next(part for part in parsed.walk() if part.get_content_type() == "text/html").get_payload(decode=True)
    assert b'src="cid:logo"' in html and "สำนักงานทดสอบ".encode() in html
    (image,) = [part for part in parsed.walk() if part.get_content_maintype() == "image"]
    assert image["Content-ID"] == "<logo>" and image.get_content_disposition() == "inline"
    assert image.get_payload(decode=True) == uploaded_logo.logo.read()
