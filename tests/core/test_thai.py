"""core.thai: the one Thai date formatter of pages, stamps, memos and reports."""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime, timedelta, timezone

import pytest

from core.thai import format_thai_datetime

SIGNED_AT = datetime(2026, 11, 22, 3, 15, tzinfo=UTC)  # 10:15 in Bangkok


def test_format_thai_datetime_uses_buddhist_era_thai_months_and_bangkok_time():
    assert format_thai_datetime(SIGNED_AT) == "22 พฤศจิกายน 2569 เวลา 10:15 น."
    assert format_thai_datetime(SIGNED_AT, era="CE") == "22 พฤศจิกายน 2026 เวลา 10:15 น."
    # Naive datetimes are already Thai local time; 23:30 UTC is the next day in Bangkok.
    assert format_thai_datetime(datetime(2026, 1, 5, 8, 5)) == "5 มกราคม 2569 เวลา 08:05 น."
    late = datetime(2026, 12, 31, 23, 30, tzinfo=timezone(timedelta(0)))
    assert format_thai_datetime(late) == "1 มกราคม 2570 เวลา 06:30 น."
    with pytest.raises(ValueError):
        format_thai_datetime(SIGNED_AT, era="AD")


def test_a_calendar_date_is_written_without_a_time():
    assert format_thai_datetime(dt.date(2026, 11, 22)) == "22 พฤศจิกายน 2569"
    assert format_thai_datetime(dt.date(2026, 11, 22), era="CE") == "22 พฤศจิกายน 2026"


def test_thai_digits():
    from core.thai import thai_digits

    assert thai_digits(2569) == "๒๕๖๙" and thai_digits("12/2569") == "๑๒/๒๕๖๙"


def test_line_breaks_fall_between_thai_words_never_inside_a_cluster():
    from core.thai import line_break_points

    text = "เห็นควรอนุมัติตามเสนอ และมอบกองคลังดำเนินการต่อไป"
    points = sorted(line_break_points(text))
    pieces = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    assert pieces[:4] == ["เห็น", "ควร", "อนุมัติ", "ตาม"]
    assert "".join(pieces) == text
    assert line_break_points("น้ำ") == set()  # a word with stacked marks is never split
