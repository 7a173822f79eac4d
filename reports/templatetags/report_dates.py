"""Dates in the report PDF as Thai offices read them: Buddhist era, Thailand's time.

The report's rows carry local times as text ("2026-12-01 10:15:00", written by reports.selectors in
the period's time zone, Asia/Bangkok); the CSV and XLSX keep that sortable form for machines, the PDF
shows "01/12/2569 10:15".
"""

from __future__ import annotations

from datetime import date, datetime

from django import template

from core.thai import BUDDHIST_ERA_OFFSET, THAI_MONTHS, THAILAND_TZ, format_thai_datetime

register = template.Library()


def _parsed(value) -> date | datetime | None:
    if isinstance(value, datetime | date):
        return value
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text) if len(text) > 10 else date.fromisoformat(text)
    except ValueError:
        return None


@register.filter
def be(value) -> str:
    """A moment or a day, short: "01/12/2569 10:15" or "01/12/2569"; other text unchanged."""
    moment = _parsed(value)
    if moment is None:
        return str(value or "")
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        moment = moment.astimezone(THAILAND_TZ)
    text = f"{moment.day:02d}/{moment.month:02d}/{moment.year + BUDDHIST_ERA_OFFSET}"
    if isinstance(moment, datetime):
        text += f" {moment:%H:%M}"
    return text


@register.filter
def be_long(value) -> str:
    """ "1 ธันวาคม 2569" for a day, "1 ธันวาคม 2569 เวลา 10:15 น." for a moment."""
    moment = _parsed(value)
    return format_thai_datetime(moment) if moment is not None else str(value or "")


@register.filter
def be_month(period) -> str:
    """The period's name: "ธันวาคม 2569" for a month, "1 ธันวาคม 2569 – 15 ธันวาคม 2569" for a range."""
    first, last = period.first_day, period.last_day
    if "_" not in period.label:
        return f"{THAI_MONTHS[first.month - 1]} {first.year + BUDDHIST_ERA_OFFSET}"
    return f"{format_thai_datetime(first)} – {format_thai_datetime(last)}"
