"""Issue 20 (branding everywhere): the report PDF in Buddhist-era dates and Thailand's time, with the
organisation's name and logo; its e-mail too. The CSV and XLSX keep sortable local times for machines."""

from __future__ import annotations

import subprocess

import pytest
from django.core import mail
from django.utils import timezone

import audit
from reports.selectors import period_month
from reports.services import monthly_report_send, report_write

pytestmark = pytest.mark.django_db


def _text(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_the_report_pdf_is_in_buddhist_era_and_thailand_time(personas, tmp_path):
    audit.record(actor=personas["requester"], action="document.created", target=personas["requester"], details={})
    now = timezone.now()
    local = timezone.localtime(now, timezone.get_default_timezone())
    period = period_month(year=local.year, month=local.month)
    files = report_write(period=period, out_dir=tmp_path, now=now)
    text = _text(files.pdf)
    be_year = str(local.year + 543)
    assert be_year in text and str(local.year) not in text  # no Common Era year left in the PDF
    assert f"{local:%d/%m}/{be_year}" in text  # the event rows, in Thailand's time
    assert "เวลาประเทศไทย" in text
    from core.thai import THAI_MONTHS

    assert f"{THAI_MONTHS[local.month - 1]} {be_year}" in text
    # the machine-readable files keep sortable local times (not UTC)
    csv_text = files.csv.read_text(encoding="utf-8-sig")
    assert f",{local:%Y-%m-%d %H:}" in csv_text  # the time column, in Thailand's hours


def test_the_monthly_report_email_carries_the_organisation_name_the_logo_and_the_thai_month(
    personas, tmp_path, settings
):
    from PIL import Image

    logo = tmp_path / "logo.png"
    Image.new("RGB", (30, 10), (10, 80, 160)).save(logo)
    settings.ORGANIZATION_LOGO = str(logo)
    mail.outbox.clear()
    local = timezone.localdate()
    assert monthly_report_send(year=local.year, month=local.month, work_dir=tmp_path / "out", force=True)
    # The report goes out through the mail ledger: the worker's send, here in the test.
    from mailer.models import OutgoingEmail
    from mailer.services import email_send

    email_send(email_id=OutgoingEmail.objects.get(kind="reports.monthly").pk)
    (message,) = mail.outbox
    from branding.selectors import branding_get

    assert branding_get().name in message.subject and str(local.year + 543) in message.subject
    html = message.alternatives[0][0]
    assert 'src="cid:logo"' in html
    names = [a.get_filename() if hasattr(a, "get_filename") else a[0] for a in message.attachments]
    assert {n.rsplit(".", 1)[-1] for n in names if n} >= {"pdf", "csv", "xlsx", "png"}
