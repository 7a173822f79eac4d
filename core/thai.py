"""Thai dates: the one formatter every page, stamp, memo and report uses.

"22 พฤศจิกายน 2569 เวลา 10:15 น." for a moment, "22 พฤศจิกายน 2569" for a calendar date; the
Buddhist era by default (era "CE" writes 2026). Aware datetimes are shown in Thailand's time.
"""

from __future__ import annotations

import functools
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = [
    "BUDDHIST_ERA_OFFSET",
    "THAILAND_TZ",
    "THAI_MONTHS",
    "Era",
    "format_thai_datetime",
    "line_break_points",
    "thai_digits",
]

Era = Literal["BE", "CE"]

THAI_MONTHS = (
    "มกราคม",
    "กุมภาพันธ์",
    "มีนาคม",
    "เมษายน",
    "พฤษภาคม",
    "มิถุนายน",
    "กรกฎาคม",
    "สิงหาคม",
    "กันยายน",
    "ตุลาคม",
    "พฤศจิกายน",
    "ธันวาคม",
)

BUDDHIST_ERA_OFFSET = 543
THAILAND_TZ = ZoneInfo("Asia/Bangkok")


def format_thai_datetime(value: date | datetime, era: Era = "BE") -> str:
    """Format a datetime like "22 พฤศจิกายน 2569 เวลา 10:15 น.", a date like "22 พฤศจิกายน 2569".

    Aware datetimes are shown in Thailand's time (UTC+7); naive ones are taken as already being
    Thai local time.
    """
    if era not in ("BE", "CE"):
        raise ValueError(f"era must be 'BE' or 'CE', not {era!r}")
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(THAILAND_TZ)
    year = value.year + BUDDHIST_ERA_OFFSET if era == "BE" else value.year
    text = f"{value.day} {THAI_MONTHS[value.month - 1]} {year}"
    if isinstance(value, datetime):
        text += f" เวลา {value:%H:%M} น."
    return text


_THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")


def thai_digits(value: int | str) -> str:
    """Arabic digits written as Thai digits ("2569" -> "๒๕๖๙"); other characters are kept."""
    return str(value).translate(_THAI_DIGITS)


def line_break_points(text: str) -> set[int]:
    """Indexes of `text` before which a line may break: Pango's line breaker, which knows Thai words
    (libthai's dictionary), so a wrapped Thai line never splits a word or a cluster."""
    ffi, pango = _pango()
    encoded = text.encode("utf-8")
    attrs = ffi.new("PangoLogAttr[]", len(text) + 1)
    pango.pango_get_log_attrs(encoded, len(encoded), -1, pango.pango_language_from_string(b"th"), attrs, len(text) + 1)
    return {i for i in range(1, len(text)) if attrs[i].is_line_break}


@functools.cache
def _pango():
    # A binding of the one Pango call needed (cffi, ABI mode): importing WeasyPrint for it costs the signing
    # worker seconds. Only the first bit of PangoLogAttr is read; the struct is 32 bits of flags.
    import cffi

    ffi = cffi.FFI()
    ffi.cdef(
        "typedef struct { unsigned int is_line_break : 1; unsigned int others : 31; } PangoLogAttr;"
        "typedef struct _PangoLanguage PangoLanguage;"
        "PangoLanguage *pango_language_from_string (const char *language);"
        "void pango_get_log_attrs (const char *text, int length, int level, PangoLanguage *language,"
        " PangoLogAttr *log_attrs, int attrs_len);"
    )
    for name in ("libpango-1.0.so.0", "libpango-1.0.dylib", "pango-1.0"):
        try:
            return ffi, ffi.dlopen(name)
        except OSError:
            continue
    raise OSError("Pango (libpango-1.0) is not installed")


def parse_month(text: str) -> tuple[int, int]:
    """A month as people type it, in the Buddhist or the Common Era: "2569-12", "12/2569", "2026-12", "12/2026".

    Years above 2400 are Buddhist-era (2569 BE = 2026 CE). Returns (CE year, month); ValueError otherwise.
    """
    text = (text or "").strip()
    if "/" in text:
        month_part, _, year_part = text.partition("/")
    else:
        year_part, _, month_part = text.partition("-")
    year, month = int(year_part), int(month_part)
    if year > 2400:
        year -= BUDDHIST_ERA_OFFSET
    if not (1 <= month <= 12 and 1900 <= year <= 2400):
        raise ValueError(f"not a month: {text!r}")
    return year, month


def parse_day(text: str) -> date:
    """A calendar date as people type it, in the Buddhist or the Common Era: "31/12/2569", "31/12/2026",
    "2569-12-31", "2026-12-31". Years above 2400 are Buddhist-era. ValueError otherwise."""
    text = (text or "").strip()
    if "/" in text:
        day_part, month_part, year_part = text.split("/")
    else:
        year_part, month_part, day_part = text.split("-")
    year = int(year_part)
    if year > 2400:
        year -= BUDDHIST_ERA_OFFSET
    if not 1900 <= year <= 2400:
        raise ValueError(f"not a date: {text!r}")
    return date(year, int(month_part), int(day_part))
