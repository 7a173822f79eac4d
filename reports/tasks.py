"""Scheduled reports (named in dsign/schedules.py)."""

import tempfile
from pathlib import Path

from django.utils import timezone

from . import services


def send_monthly_report() -> list[str]:
    """On the 1st: the previous month's report, e-mailed to IT admins and auditors. Returns the recipients."""
    today = timezone.localdate()
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    with tempfile.TemporaryDirectory(prefix="dsign-report-") as tmp:
        return services.monthly_report_send(year=year, month=month, work_dir=Path(tmp))
