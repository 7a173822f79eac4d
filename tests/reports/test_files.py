"""The report's building blocks: the streaming XLSX, the PDF's URL fetcher, the e-mailed monthly report
and the admin download page."""

import subprocess
import warnings
from pathlib import Path

import pytest
from django.core import mail
from django.test import TestCase
from django.utils import timezone
from openpyxl import load_workbook

from core.fonts import thai_font_path
from reports import tasks
from reports.pdf import LocalFilesOnly
from reports.xlsx import StreamingWorkbook
from tests.conftest import admin_login


def test_streaming_xlsx_reads_back_in_openpyxl_and_libreoffice_format_checks(tmp_path):
    path = tmp_path / "t.xlsx"
    book = StreamingWorkbook(path)
    fast = book.sheet("transactions", ["id", "text", "other"], numeric=(0,))
    fast([1, "บันทึกข้อความ <b>&\x01", None])
    fast([2, "x\x1fy", "z"])
    slow = book.sheet("summary/with:bad*chars", ["day", "n"])
    slow(["2026-11-01", 3])
    book.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_workbook(path, read_only=True)
    assert loaded.sheetnames == ["transactions", "summary_with_bad_chars"]
    rows = list(loaded["transactions"].iter_rows(values_only=True))
    assert rows[1][:2] == (1, "บันทึกข้อความ <b>&") and rows[1][2] in (None, "")
    assert rows[2] == (2, "x y", "z")
    assert list(loaded["summary_with_bad_chars"].iter_rows(values_only=True)) == [("day", "n"), ("2026-11-01", 3)]


def test_streaming_xlsx_spills_over_excels_row_limit(tmp_path, monkeypatch):
    from reports import xlsx

    monkeypatch.setattr(xlsx, "MAX_ROWS", 3)
    book = StreamingWorkbook(tmp_path / "t.xlsx")
    append = book.sheet("transactions", ["id"], numeric=(0,))
    for i in range(5):
        append([i])
    book.close()
    loaded = load_workbook(tmp_path / "t.xlsx", read_only=True)
    assert loaded.sheetnames == ["transactions", "transactions (2)", "transactions (3)"]
    assert [r[0] for r in loaded["transactions (3)"].iter_rows(values_only=True)] == ["id", 4]


def test_pdf_fetcher_serves_only_local_font_files(tmp_path):
    font = thai_font_path()
    fetcher = LocalFilesOnly(roots=[font.parent])
    assert fetcher.fetch(font.as_uri()).read()[:4] in (b"\x00\x01\x00\x00", b"OTTO", b"true")
    for url in ("http://127.0.0.1:9/x.css", "file:///etc/passwd", (font.parent / ".." / "x").resolve().as_uri()):
        with pytest.raises(ValueError, match="refused"):
            fetcher.fetch(url)


@pytest.mark.django_db
def test_a_report_with_an_external_image_renders_without_fetching_it(tmp_path, settings):
    from django.test.utils import override_settings

    from reports.pdf import report_pdf_render
    from reports.selectors import period_month

    template_dir = tmp_path / "templates" / "reports"
    template_dir.mkdir(parents=True)
    source = Path(settings.BASE_DIR, "templates/reports/monthly.html").read_text()
    (template_dir / "monthly.html").write_text(
        source.replace("<body>", '<body><img src="http://127.0.0.1:9/leak.png"><img src="file:///etc/hostname">')
    )
    templates = [{**settings.TEMPLATES[0], "DIRS": [tmp_path / "templates"]}]
    period = period_month(year=2026, month=1)
    data = {
        "signatures_per_day": [],
        "time_per_tier": [],
        "transactions_per_day": [],
        "transactions": [],
        "failed_jobs": [],
        "failed_events": [],
        "certificates": [],
        "certificate_admin_log": [],
        "events_per_action": [],
    }
    with override_settings(TEMPLATES=templates):
        pdf = report_pdf_render(period=period, data=data, counts={}, filters={}, generated_at=timezone.now())
    out = tmp_path / "r.pdf"
    out.write_bytes(pdf)
    listing = subprocess.run(["pdfimages", "-list", str(out)], capture_output=True, text=True, check=True).stdout
    assert len(listing.splitlines()) == 2  # the header only: neither image was fetched


@pytest.mark.django_db
def test_monthly_task_mails_last_months_files_to_admins_and_auditors_once(personas, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with TestCase.captureOnCommitCallbacks(execute=True):  # the mail ledger sends after commit
        recipients = tasks.send_monthly_report()
    assert {"admin@dsign.example", "auditor@dsign.example"} <= set(recipients)
    assert "requester@dsign.example" not in recipients
    (message,) = mail.outbox
    today = timezone.localdate()
    label = f"{today.year - 1}-12" if today.month == 1 else f"{today.year}-{today.month - 1:02d}"
    assert sorted(name for name, _, _ in message.attachments) == [
        f"report-{label}.csv",
        f"report-{label}.pdf",
        f"report-{label}.xlsx",
    ]
    assert tasks.send_monthly_report() == [] and len(mail.outbox) == 1


@pytest.mark.django_db
def test_admin_downloads_a_date_range_as_a_zip_and_requester_cannot(personas, client):
    admin_login(client, personas["admin"])
    page = client.get("/admin/audit/event/report/")
    assert page.status_code == 200 and b"month" in page.content
    today = timezone.localdate().isoformat()
    response = client.get(f"/admin/audit/event/report/?first_day={today}&last_day={today}&fmt=zip")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    import io
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert sorted(names) == sorted(f"report-{today}_{today}.{ext}" for ext in ("pdf", "csv", "xlsx"))
    month = client.get(f"/admin/audit/event/report/?month={today[:7]}&fmt=pdf")
    assert month.status_code == 200 and month.content.startswith(b"%PDF")
    client.force_login(personas["requester"])
    assert client.get("/admin/audit/event/report/").status_code in (302, 403)
