"""Acceptance 1: after documents are routed and signed, this month's report lists them, and its failures
section lists a forced signing failure (the signer's certificate revoked before the job ran) with its cause."""

import csv
import subprocess

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.conf import Conf
from openpyxl import load_workbook

from certificates.models import Certificate, CertificateStatus
from certificates.services import certificate_revoke
from signing.models import JobStatus, PadesLevel, SigningJob
from signing.tasks import run_signing_job
from tests.workflows.test_walking_skeleton import upload
from workflows.models import WorkflowTemplate

pytestmark = [pytest.mark.hsm, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def bb_template(db):
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    template.pades_level = PadesLevel.B_B
    template.save()
    return template


def _rows(path, section):
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return [row for row in csv.DictReader(fh) if row["section"] == section]


def test_this_months_report_lists_signed_documents_and_the_failure_with_its_cause(
    personas,
    api_for,
    otp,
    pdf_bytes,
    bb_template,
    tmp_path,
    monkeypatch,
):
    head1 = api_for(personas["head1"])
    signed = upload(api_for(personas["requester"]), pdf_bytes, title="บันทึกข้อความ ขออนุมัติจัดซื้อ").json()
    response = head1.post(f"/api/v1/documents/{signed['id']}/approve/", {"otp": otp(personas["head1"])}, format="json")
    assert response.status_code == 202, response.content

    failing = upload(api_for(personas["requester"]), pdf_bytes, title="บันทึกข้อความ ลงนามไม่สำเร็จ").json()
    # Queue the job without running it, revoke the signer's certificate, then let the job run.
    monkeypatch.setattr(Conf, "SYNC", False)
    response = head1.post(f"/api/v1/documents/{failing['id']}/approve/", {"otp": otp(personas["head1"])}, format="json")
    assert response.status_code == 202, response.content
    monkeypatch.setattr(Conf, "SYNC", True)
    job = SigningJob.objects.get(subject_id=failing["id"])
    assert job.status == JobStatus.QUEUED
    certificate_revoke(certificate=Certificate.objects.get(pk=job.certificate_id), actor=personas["admin"])
    run_signing_job(job.pk)
    job.refresh_from_db()
    assert (job.status, job.error_code) == (JobStatus.FAILED, "certificate_not_usable")

    month = timezone.localdate().strftime("%Y-%m")
    call_command("monthly_report", "--month", month, "--out", str(tmp_path))
    pdf, csv_path, xlsx = (tmp_path / f"report-{month}.{ext}" for ext in ("pdf", "csv", "xlsx"))

    transactions = _rows(csv_path, "transactions")
    made = [
        r for r in transactions if r["action"] == "signing.signature_made" and r["document_id"] == str(signed["id"])
    ]
    assert len(made) == 1 and made[0]["outcome"] == "success"
    created = {r["document_id"]: r for r in transactions if r["action"] == "document.created"}
    assert created[str(signed["id"])]["actor"] == "requester"
    assert created[str(failing["id"])]["object"] == "บันทึกข้อความ ลงนามไม่สำเร็จ"
    failed_jobs = _rows(csv_path, "failed_signing_jobs")
    assert [(r["record_id"], r["document_id"], r["code"]) for r in failed_jobs] == [
        (str(job.pk), str(failing["id"]), "certificate_not_usable")
    ]
    assert "revoked" in failed_jobs[0]["detail"] and failed_jobs[0]["object"] == "บันทึกข้อความ ลงนามไม่สำเร็จ"
    failed_events = _rows(csv_path, "failed_events")
    assert any(r["action"] == "signing.failed" and "revoked" in r["detail"] for r in failed_events)
    certificates = {r["actor"]: r["outcome"] for r in _rows(csv_path, "certificates")}
    assert certificates["head1"] == "revoked" and certificates["head2"] == "active"
    admin_log = _rows(csv_path, "certificate_admin_log")
    assert any(r["action"] == "certificates.revoked" and r["actor"] == "admin" for r in admin_log)
    per_day = {r["time"]: r["value"] for r in _rows(csv_path, "signatures_per_day")}
    assert per_day[timezone.localdate().isoformat()] == "1"

    book = load_workbook(xlsx, read_only=True)
    assert {
        "transactions",
        "failed signing jobs",
        "failed events",
        "certificates",
        "certificate admin log",
        "signatures per day",
        "time per tier",
    } <= set(book.sheetnames)
    job_rows = list(book["failed signing jobs"].iter_rows(values_only=True))
    assert job_rows[0][:3] == ("job_id", "document_id", "document")
    assert job_rows[1][0] == job.pk and job_rows[1][6] == "certificate_not_usable"
    xlsx_transactions = list(book["transactions"].iter_rows(values_only=True))[1:]
    assert len(xlsx_transactions) == len(transactions)

    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "รายงาน" in text and "สาเหตุ" in text
    # Exact Thai text, ำ included (it used to be dropped: "ลงนามไม่สาเร็จ", "ผู้อานวยการ"); the cell wraps.
    plain = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "#2 บันทึกข้อความ ลงนามไม่\nสำเร็จ" in plain.replace(f"#{failing['id']} ", "#2 ")
    assert "จัดทำ" in plain and "การกระทำ / action" in plain
    assert "certificate_not_usable" in text and "revoked" in text
    assert "signing.signature_made" in text


def test_certificate_filters_and_date_range_variant(personas, tmp_path):
    head2_cert = Certificate.objects.filter(user=personas["head2"]).first()
    Certificate.objects.filter(pk=head2_cert.pk).update(status=CertificateStatus.REVOKED)
    today = timezone.localdate().isoformat()
    call_command("monthly_report", "--from", today, "--to", today, "--out", str(tmp_path), "--cert-status", "revoked")
    path = tmp_path / f"report-{today}_{today}.csv"
    assert [r["actor"] for r in _rows(path, "certificates")] == ["head2"]
    assert (tmp_path / f"report-{today}_{today}.pdf").read_bytes().startswith(b"%PDF")

    unit = personas["director"].org_unit
    call_command(
        "monthly_report", "--from", today, "--to", today, "--out", str(tmp_path / "u"), "--org-unit", unit.code
    )
    users = {r["actor"] for r in _rows(tmp_path / "u" / f"report-{today}_{today}.csv", "certificates")}
    assert "director" in users
    assert all(personas[u].org_unit_id is not None for u in users)
