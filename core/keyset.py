"""Keyset pagination: the page after a cursor, read from an index in order, without OFFSET or COUNT.

A cursor holds the sort values of the last row shown, signed (`django.core.signing`) with a salt that
names the list, the person and the sort: a cursor that was altered, forged, or given out for another list
or another person is refused, never read. Even a valid cursor only says where to start; which rows the
list holds is the caller's query, filtered by the person first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from django.core import signing
from django.db.models import Q, QuerySet
from django.utils.translation import gettext

from core.errors import DomainError

MAX_CURSOR = 400  # characters; the sort values of one row fit in far fewer


class InvalidCursor(DomainError):
    code = "invalid_cursor"
    status = 400

    def __init__(self):
        super().__init__(gettext("The cursor is not valid for this list; start again from the first page."))


def _value(row, path: str):
    for name in path.split("__"):
        row = getattr(row, name)
    return row.isoformat() if isinstance(row, datetime) else row


def cursor_for(row, ordering: Sequence[str], *, salt: str) -> str:
    return signing.dumps([_value(row, field.lstrip("-")) for field in ordering], salt=salt, compress=False)


def cursor_values(cursor: str, ordering: Sequence[str], *, salt: str) -> list:
    if len(cursor) > MAX_CURSOR:
        raise InvalidCursor()
    try:
        values = signing.loads(cursor, salt=salt)
    except signing.BadSignature as exc:
        raise InvalidCursor() from exc
    if not isinstance(values, list) or len(values) != len(ordering):
        raise InvalidCursor()
    return values


def after(qs: QuerySet, ordering: Sequence[str], values: list) -> QuerySet:
    """Rows strictly after `values` in `ordering` (the last field unique). The first field also bounds the
    scan (`<=`/`>=`), so the database starts the index range there instead of filtering from the top."""
    strictly = Q()
    for i, field in enumerate(ordering):
        name = field.lstrip("-")
        step = Q(**{f"{name}__{'lt' if field.startswith('-') else 'gt'}": values[i]})
        for j in range(i):
            step &= Q(**{ordering[j].lstrip("-"): values[j]})
        strictly |= step
    first = ordering[0].lstrip("-")
    bound = Q(**{f"{first}__{'lte' if ordering[0].startswith('-') else 'gte'}": values[0]})
    return qs.filter(bound & strictly)


def page(
    qs: QuerySet,
    ordering: Sequence[str],
    *,
    size: int,
    salt: str,
    copies: int = 1,
    key: Callable | None = None,
) -> tuple[list, str | None]:
    """At most `size` rows in `ordering`, and the cursor of the next page (None on the last page).

    With `copies` > 1 a row may come up to that many times (one per `key`, e.g. a document seen both as
    oneself and as someone one acts for): copies sort together, so reading `copies` times as many rows
    and keeping the first of each key still fills the page."""
    rows = list(qs.order_by(*ordering)[: (size + 1) * copies])
    if key is not None:
        seen, unique = set(), []
        for row in rows:
            if key(row) not in seen:
                seen.add(key(row))
                unique.append(row)
        rows = unique
    more = len(rows) > size
    rows = rows[:size]
    return rows, (cursor_for(rows[-1], ordering, salt=salt) if more and rows else None)
