"""Writing a report (PDF, CSV, XLSX) for a month or a date range, and e-mailing the monthly one.

Files written for a period labelled L (``2026-11`` or ``2026-11-01_2026-11-15``):

- ``report-L.xlsx``: one sheet per section (transactions, failed signing jobs, failed events, certificates,
  certificate admin log, signatures per day, transactions per day, time per tier, events per action).
  Transactions go on as many sheets as Excel's row limit requires (reports.xlsx streams them).
- ``report-L.csv``: all sections in one UTF-8 file (with a BOM so Excel reads the Thai), one row per record,
  columns ``section, record_id, time, actor, action, object_type, object_id, document_id, object, outcome,
  code, detail, value``; each section fills the columns that apply (see `_CSV_MAPPERS`).
- ``report-L.pdf``: the summary for people: counts per action and per day, the charts, failures in full
  (up to PDF_FAILURE_LIMIT), certificates, the certificate admin log, and the first PDF_TRANSACTION_LIMIT
  transactions with a note pointing to the CSV/XLSX for the rest.

All rows are streamed once from the database into the CSV and the XLSX, and the per-day counts are taken
in the same pass, so the cost grows linearly with the month and memory stays flat.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from django.utils import timezone

from core.roles import AUDIT_READERS, role_holders_q

from . import selectors
from .selectors import SIGNATURE_ACTION, Period
from .xlsx import StreamingWorkbook

PDF_TRANSACTION_LIMIT = 100
PDF_FAILURE_LIMIT = 2000

CSV_COLUMNS = [
    "section",
    "record_id",
    "time",
    "actor",
    "action",
    "object_type",
    "object_id",
    "document_id",
    "object",
    "outcome",
    "code",
    "detail",
    "value",
]


# A spreadsheet runs a cell that starts like a formula (=HYPERLINK(…), +cmd|…, @SUM, -2+3, or a tab/CR
# before one); such text cells get a leading apostrophe, which Excel and LibreOffice show as plain text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class _SafeCsvWriter:
    def __init__(self, fh):
        self._writer = csv.writer(fh)

    def writerow(self, row) -> None:
        self._writer.writerow([csv_cell(value) for value in row])


def _transaction_csv(row: tuple) -> list:
    pk, time, actor, action, object_type, object_id, document_id, obj, outcome, detail = row
    return [pk, time, actor, action, object_type, object_id, document_id, obj, outcome, "", detail, ""]


def _job_csv(row: tuple) -> list:
    pk, document_id, title, field_name, status, attempts, code, message, created, finished = row
    return [
        pk,
        finished or created,
        "",
        f"signing job {status}",
        "signing.signingjob",
        pk,
        document_id,
        title,
        status,
        code,
        message,
        attempts,
    ]


def _failed_event_csv(row: tuple) -> list:
    pk, time, actor, action, object_type, object_id, outcome, code, cause = row
    return [pk, time, actor, action, object_type, object_id, "", "", outcome, code, cause, ""]


def _email_csv(row: tuple) -> list:
    pk, time, kind, to, subject, status, attempts, cause = row
    obj = f"{to}: {subject}"
    return [pk, time, "", f"e-mail {kind}", "mailer.outgoingemail", pk, "", obj, status, "", cause, attempts]


def _certificate_csv(row: tuple) -> list:
    pk, username, name, unit, status, serial, subject, issuer, not_before, not_after, revoked_at = row
    detail = f"serial {serial}; issuer {issuer}; valid {not_before} to {not_after}"
    if revoked_at:
        detail += f"; revoked {revoked_at}"
    return [pk, not_after, username, "", "certificates.certificate", pk, "", subject or name, status, unit, detail, ""]


def _admin_csv(row: tuple) -> list:
    pk, time, actor, action, object_type, object_id, obj, outcome, detail = row
    return [pk, time, actor, action, object_type, object_id, "", obj, outcome, "", detail, ""]


_CSV_MAPPERS = {
    "transactions": _transaction_csv,
    "failed_signing_jobs": _job_csv,
    "failed_events": _failed_event_csv,
    "failed_emails": _email_csv,
    "certificates": _certificate_csv,
    "certificate_admin_log": _admin_csv,
}


@dataclass
class ReportFiles:
    pdf: Path
    csv: Path
    xlsx: Path
    counts: dict = field(default_factory=dict)

    @property
    def paths(self) -> list[Path]:
        return [self.pdf, self.csv, self.xlsx]


class _DayCounts:
    """Events and signatures per day, counted while the transactions stream past (one pass)."""

    def __init__(self, days):
        self.events = {day.isoformat(): 0 for day in days}
        self.signatures = dict(self.events)

    def counting(self, rows):
        for row in rows:
            day = row[1][:10]
            self.events[day] = self.events.get(day, 0) + 1
            if row[3] == SIGNATURE_ACTION:
                self.signatures[day] = self.signatures.get(day, 0) + 1
            yield row


class _SectionWriter:
    """Writes each section's rows to its XLSX sheet and to the CSV, keeping the first few for the PDF."""

    def __init__(self, *, csv_out, sheets: StreamingWorkbook, files: ReportFiles):
        self.csv_out, self.sheets, self.files = csv_out, sheets, files

    def rows(self, section: str, title: str, columns: list[str], rows, *, keep: int, numeric=None) -> list:
        to_sheet = self.sheets.sheet(title, columns, numeric=numeric)
        to_csv = _CSV_MAPPERS[section]
        kept, count = [], 0
        for row in rows:
            to_sheet(row)
            self.csv_out.writerow([section, *to_csv(row)])
            if count < keep:
                kept.append(row)
            count += 1
        self.files.counts[section] = count
        return kept

    def summary(self, section: str, columns: list[str], rows: list) -> list:
        to_sheet = self.sheets.sheet(section.replace("_", " "), columns)
        for row in rows:
            to_sheet([str(row[0]), *row[1:]])
            self.csv_out.writerow(_summary_csv(section, row))
        return rows


def report_write(
    *,
    period: Period,
    out_dir: Path,
    cert_status: str | None = None,
    org_unit: str | None = None,
    now=None,
) -> ReportFiles:
    """Write report-<label>.pdf/.csv/.xlsx into out_dir and return their paths and section counts."""
    from .pdf import report_pdf_render

    if cert_status and cert_status not in selectors.CERTIFICATE_FILTERS:
        raise ValueError(f"certificate status must be one of {', '.join(selectors.CERTIFICATE_FILTERS)}")
    now = now or timezone.now()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = out_dir / f"report-{period.label}"
    files = ReportFiles(pdf=base.with_suffix(".pdf"), csv=base.with_suffix(".csv"), xlsx=base.with_suffix(".xlsx"))
    sheets = StreamingWorkbook(files.xlsx)
    days = selectors.period_days(period=period)
    per_day = _DayCounts(days)
    with open(files.csv, "w", newline="", encoding="utf-8-sig") as fh:
        out = _SafeCsvWriter(fh)
        out.writerow(CSV_COLUMNS)
        pdf_data = _sections_write(
            _SectionWriter(csv_out=out, sheets=sheets, files=files),
            period=period,
            per_day=per_day,
            days=days,
            certificates=selectors.certificate_status(
                status=cert_status, org_unit=org_unit, at=timezone.localtime(now, period.tz)
            ),
        )
    sheets.close()
    files.pdf.write_bytes(
        report_pdf_render(
            period=period,
            data=pdf_data,
            counts=files.counts,
            filters={"status": cert_status or "", "org_unit": org_unit or ""},
            generated_at=timezone.localtime(now, period.tz),
        )
    )
    return files


def _sections_write(write: _SectionWriter, *, period: Period, per_day: _DayCounts, days, certificates) -> dict:
    """Every section in report order; returns what the PDF shows of each."""
    pdf_data = {
        "transactions": write.rows(
            "transactions",
            "transactions",
            selectors.TRANSACTION_COLUMNS,
            per_day.counting(selectors.transactions_rows(period=period)),
            keep=PDF_TRANSACTION_LIMIT,
            numeric=(0,),
        ),
        "failed_jobs": write.rows(
            "failed_signing_jobs",
            "failed signing jobs",
            selectors.FAILED_JOB_COLUMNS,
            selectors.failed_jobs(period=period),
            keep=PDF_FAILURE_LIMIT,
        ),
        "failed_events": write.rows(
            "failed_events",
            "failed events",
            selectors.FAILED_EVENT_COLUMNS,
            selectors.failed_events(period=period),
            keep=PDF_FAILURE_LIMIT,
        ),
        "failed_emails": write.rows(
            "failed_emails",
            "failed e-mails",
            selectors.FAILED_EMAIL_COLUMNS,
            selectors.failed_emails(period=period),
            keep=PDF_FAILURE_LIMIT,
        ),
        "certificates": write.rows(
            "certificates", "certificates", selectors.CERTIFICATE_COLUMNS, certificates, keep=10**9
        ),
        "certificate_admin_log": write.rows(
            "certificate_admin_log",
            "certificate admin log",
            selectors.CERT_ADMIN_COLUMNS,
            selectors.certificate_admin_events(period=period),
            keep=PDF_FAILURE_LIMIT,
        ),
    }
    summaries = {
        "signatures_per_day": (["day", "signatures"], [(d, per_day.signatures.get(d.isoformat(), 0)) for d in days]),
        "transactions_per_day": (["day", "events"], [(d, per_day.events.get(d.isoformat(), 0)) for d in days]),
        "time_per_tier": (
            ["tier", "tiers completed", "average hours"],
            [(o, n, round(h, 2)) for o, n, h in selectors.tier_durations(period=period)],
        ),
        "events_per_action": (["action", "events", "not successful"], selectors.action_counts(period=period)),
    }
    for section, (columns, rows) in summaries.items():
        pdf_data[section] = write.summary(section, columns, rows)
    return pdf_data


def _summary_csv(section: str, row: tuple) -> list:
    blank = [""] * (len(CSV_COLUMNS) - 1)
    if section in ("signatures_per_day", "transactions_per_day"):
        day, count = row
        return [section, "", str(day), *blank[2:-1], count]
    if section == "time_per_tier":
        order, completed, hours = row
        return [section, order, "", "", "", "", "", "", f"tier {order}", "", "", f"{completed} tiers", hours]
    action, total, failed = row
    return [section, "", "", "", action, "", "", "", "", "", "", f"{failed} not successful", total]


def report_recipients() -> list[str]:
    """E-mail addresses of active IT admins and auditors (and superusers)."""
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    users = users.filter(role_holders_q(*AUDIT_READERS))
    return sorted(set(users.values_list("email", flat=True)))


def monthly_report_send(*, year: int, month: int, work_dir: Path, force: bool = False) -> list[str]:
    """Write the month's report and queue the e-mail with the three files in the mail ledger (it sends and
    retries); records `reports.monthly_queued`, then `reports.monthly_sent` or `_failed` (reports.emails).

    Queued once per month: a second run (django-q2 may deliver a task twice) finds the event and stops.
    """
    from django.db import transaction

    import audit
    from audit.selectors import events_filter
    from mailer.services import email_queue

    from .emails import MONTHLY_EMAIL_KIND

    period = selectors.period_month(year=year, month=month)
    already = events_filter(action_prefix="reports.monthly_", target_type="reports.monthly", target_id=period.label)
    if already.filter(action__in=["reports.monthly_queued", "reports.monthly_sent"]).exists() and not force:
        return []
    recipients = report_recipients()
    if not recipients:
        return []
    files = report_write(period=period, out_dir=work_dir)
    message = _report_email(period=period, counts=files.counts, recipients=recipients)
    types = {".pdf": "application/pdf", ".csv": "text/csv", ".xlsx": _XLSX}
    for path in files.paths:
        message.attach(path.name, path.read_bytes(), types[path.suffix])
    with transaction.atomic():
        row = email_queue(message=message, kind=MONTHLY_EMAIL_KIND, ref=f"reports.monthly:{period.label}")
        audit.record(
            action="reports.monthly_queued",
            target=("reports.monthly", period.label),
            details={"to": recipients, "email_id": row.pk},
        )
    return recipients


_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _report_email(*, period, counts: dict, recipients: list[str]):
    """The monthly report e-mail: the organisation's name and logo (inline), the month in the Buddhist era."""
    from html import escape

    from django.conf import settings

    from branding.email import LOGO_CID, branded_email, has_logo
    from branding.selectors import branding_get

    from .templatetags.report_dates import be_month

    org, month = branding_get().name, be_month(period)
    lines = "\n".join(f"{section}: {count}" for section, count in counts.items())
    text = (
        f"{org}\n\nรายงานการใช้งานระบบประจำเดือน {month} แนบมาพร้อมนี้ (PDF, CSV, XLSX)\n"
        f"The dsign report for {period.label} is attached.\n\n{lines}"
    )
    logo = f'<img src="cid:{LOGO_CID}" alt="" style="max-height:64px"><br>' if has_logo() else ""
    html = (
        f'<div style="font-family:Sarabun,Tahoma,sans-serif">{logo}<strong>{escape(org)}</strong>'
        f"<p>รายงานการใช้งานระบบประจำเดือน {escape(month)} แนบมาพร้อมนี้ (PDF, CSV, XLSX)</p>"
        f"<pre>{escape(lines)}</pre></div>"
    )
    message = branded_email(
        subject=f"[{org}] รายงานประจำเดือน {month} / monthly report", text=text, html=html, to=recipients
    )
    message.from_email = settings.DEFAULT_FROM_EMAIL
    return message
