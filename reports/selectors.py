"""Read-only queries behind the reports. Other apps are read through their own selectors, never written.

Everything large is streamed (`values_list(...).iterator()`) or aggregated in SQL, so a month of a
million events costs one pass over the rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from django.db import connection
from django.db.models import Count, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from accounts.selectors import org_unit_ids_with_descendants
from audit.selectors import events_filter
from certificates.selectors import certificates_of_units
from signing.selectors import jobs_failed_or_waiting
from workflows.selectors import document_titles, tier_completions

# "Transactions" are the events about documents and their processing steps.
TRANSACTION_PREFIXES = ("document.", "route.", "assignment.", "delegation.", "signing.")
SIGNATURE_ACTION = "signing.signature_made"
TRANSACTION_COLUMNS = [
    "event_id",
    "time",
    "actor",
    "action",
    "object_type",
    "object_id",
    "document_id",
    "object",
    "outcome",
    "detail",
]


@dataclass(frozen=True)
class Period:
    start: datetime  # inclusive, aware
    end: datetime  # exclusive, aware
    label: str  # "2026-11" or "2026-11-01_2026-11-15"
    tz: tzinfo

    @property
    def first_day(self) -> date:
        return timezone.localtime(self.start, self.tz).date()

    @property
    def last_day(self) -> date:
        return timezone.localtime(self.end - timedelta(microseconds=1), self.tz).date()


def period_month(*, year: int, month: int, tz: tzinfo | None = None) -> Period:
    tz = tz or timezone.get_current_timezone()
    start = datetime(year, month, 1, tzinfo=tz)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)
    return Period(start=start, end=end, label=f"{year:04d}-{month:02d}", tz=tz)


def period_range(*, first_day: date, last_day: date, tz: tzinfo | None = None) -> Period:
    """Whole local days from first_day to last_day, both included."""
    tz = tz or timezone.get_current_timezone()
    start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=tz)
    after = last_day + timedelta(days=1)
    end = datetime(after.year, after.month, after.day, tzinfo=tz)
    return Period(start=start, end=end, label=f"{first_day:%Y-%m-%d}_{last_day:%Y-%m-%d}", tz=tz)


def _transactions_q() -> Q:
    query = Q()
    for prefix in TRANSACTION_PREFIXES:
        query |= Q(action__startswith=prefix)
    return query


def _in(period: Period):
    return events_filter(start=period.start, end=period.end)


def _local(moment: datetime | None, tz: tzinfo) -> str:
    return moment.astimezone(tz).isoformat(sep=" ", timespec="seconds")[:19] if moment else ""


def _document_id(target_type: str, target_id: str, details: dict) -> str:
    if target_type == "workflows.document":
        return target_id
    subject = details.get("subject") if isinstance(details, dict) else None
    return str(subject) if subject is not None else ""


def _detail(details) -> str:
    if not details:
        return ""
    if isinstance(details, dict):
        for key in ("message", "reason", "change_message", "comment"):
            if details.get(key):
                return str(details[key])[:500]
        return ", ".join(f"{k}={v}" for k, v in details.items() if v not in (None, ""))[:500]
    return str(details)[:500]


def _local_time_sql(period: Period) -> RawSQL | None:
    """Local "YYYY-MM-DD HH:MM:SS" computed by the database, which is far cheaper than per row in Python."""
    if connection.vendor == "postgresql" and getattr(period.tz, "key", None):
        return RawSQL("to_char(created_at AT TIME ZONE %s, 'YYYY-MM-DD HH24:MI:SS')", [period.tz.key])
    if connection.vendor == "sqlite":
        offsets = {period.start.utcoffset(), period.end.utcoffset()}
        offsets |= {timezone.localtime(period.start + timedelta(days=d), period.tz).utcoffset() for d in range(0, 32)}
        if len(offsets) == 1:  # no DST change in the period: one fixed offset
            seconds = int(offsets.pop().total_seconds())
            return RawSQL("datetime(created_at, %s)", [f"{seconds:+d} seconds"])
    return None


def transactions_rows(*, period: Period) -> Iterator[tuple]:
    """Every document event of the period in id (= time) order, as TRANSACTION_COLUMNS tuples.

    Read through a plain cursor: Django's per-row converters would cost more than everything else here.
    """
    local_sql = _local_time_sql(period)
    rows = _in(period).filter(_transactions_q()).order_by("id")
    if local_sql is not None:
        rows = rows.annotate(local_time=local_sql)
    rows = rows.values_list(
        "id",
        "local_time" if local_sql is not None else "created_at",
        "actor_repr",
        "action",
        "target_type",
        "target_id",
        "target_repr",
        "outcome",
        "details",
    )
    sql, params = rows.query.sql_with_params()
    tz = period.tz
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(5000):
            for pk, created_at, actor, action, target_type, target_id, target_repr, outcome, details in chunk:
                if local_sql is None:
                    if isinstance(created_at, str):
                        created_at = datetime.fromisoformat(created_at)
                    if created_at.tzinfo is None:  # SQLite stores UTC without an offset
                        created_at = created_at.replace(tzinfo=UTC)
                    created_at = _local(created_at, tz)
                if isinstance(details, str):
                    details = json.loads(details)
                yield (
                    pk,
                    created_at,
                    actor or "system",
                    action,
                    target_type,
                    target_id,
                    _document_id(target_type, target_id, details),
                    target_repr,
                    outcome,
                    _detail(details),
                )


def period_days(*, period: Period) -> list[date]:
    days, day = [], period.first_day
    while day <= period.last_day:
        days.append(day)
        day += timedelta(days=1)
    return days


def action_counts(*, period: Period) -> list[tuple[str, int, int]]:
    """(action, events, failures) for every action of the period, most frequent first."""
    rows = (
        _in(period)
        .values("action")
        .annotate(total=Count("id"), failed=Count("id", filter=~Q(outcome="success")))
        .order_by("-total", "action")
    )
    return [(row["action"], row["total"], row["failed"]) for row in rows]


FAILED_JOB_COLUMNS = [
    "job_id",
    "document_id",
    "document",
    "field",
    "status",
    "attempts",
    "error_code",
    "error_message",
    "created",
    "finished",
]
FAILED_EVENT_COLUMNS = ["event_id", "time", "actor", "action", "object_type", "object_id", "outcome", "code", "cause"]


def failed_jobs(*, period: Period) -> list[tuple]:
    """Signing jobs of the period that failed or are waiting to retry, with the cause they recorded."""
    jobs = jobs_failed_or_waiting(start=period.start, end=period.end)
    subject_ids = {job[2] for job in jobs if job[1].startswith("workflows.")}
    documents = document_titles(subject_ids) if subject_ids else {}
    return [
        (
            pk,
            subject_id,
            documents.get(subject_id, "") if handler.startswith("workflows.") else "",
            field,
            status,
            attempts,
            code,
            message,
            _local(created, period.tz),
            _local(finished, period.tz),
        )
        for pk, handler, subject_id, field, status, attempts, code, message, created, finished in jobs
    ]


def failed_events(*, period: Period) -> Iterator[tuple]:
    """Audit events of the period whose outcome was not success (failure, denied), with their cause."""
    rows = (
        _in(period)
        .exclude(outcome="success")
        .order_by("id")
        .values_list("id", "created_at", "actor_repr", "action", "target_type", "target_id", "outcome", "details")
    )
    for pk, created_at, actor, action, target_type, target_id, outcome, details in rows.iterator(chunk_size=5000):
        code = str(details.get("code") or details.get("detail") or "") if isinstance(details, dict) else ""
        cause = _detail(details)
        yield pk, _local(created_at, period.tz), actor or "system", action, target_type, target_id, outcome, code, cause


CERTIFICATE_COLUMNS = [
    "certificate_id",
    "user",
    "name",
    "org_unit",
    "status",
    "serial",
    "subject",
    "issuer",
    "not_before",
    "not_after",
    "revoked_at",
]
CERTIFICATE_FILTERS = ("active", "expired", "revoked", "pending", "superseded")


def _effective_status(status: str, not_after: datetime | None, now: datetime) -> str:
    if status == "active" and not_after is not None and not_after <= now:
        return "expired"
    if status in ("awaiting_issuance", "pending_acceptance"):
        return "pending"
    return status


def certificate_status(*, status: str | None = None, org_unit: str | None = None, at: datetime) -> list[tuple]:
    """Every certificate with its status as of `at` (active past its end counts as expired).

    `status` is one of CERTIFICATE_FILTERS; `org_unit` an OrgUnit code (that unit and the units below it).
    """
    certificates = certificates_of_units(org_unit_ids_with_descendants(org_unit) if org_unit else None)
    rows = []
    for cert in certificates:
        effective = _effective_status(cert.status, cert.not_after, at)
        if status and effective != status:
            continue
        unit = cert.user.org_unit
        rows.append(
            (
                cert.pk,
                cert.user.username,
                cert.user.full_name_th,
                unit.code if unit else "",
                effective,
                cert.serial_number,
                cert.subject_cn,
                cert.issuer_cn,
                _local(cert.not_before, at.tzinfo),
                _local(cert.not_after, at.tzinfo),
                _local(cert.revoked_at, at.tzinfo),
            )
        )
    return rows


CERT_ADMIN_COLUMNS = ["event_id", "time", "actor", "action", "object_type", "object_id", "object", "outcome", "detail"]


def certificate_admin_events(*, period: Period) -> list[tuple]:
    """Certificate management: every `certificates.*` event and every admin change to a certificates model."""
    rows = (
        _in(period)
        .filter(
            Q(action__startswith="certificates.")
            | Q(action__startswith="admin.", target_type__startswith="certificates.")
        )
        .order_by("id")
        .values_list(
            "id", "created_at", "actor_repr", "action", "target_type", "target_id", "target_repr", "outcome", "details"
        )
    )
    return [
        (pk, _local(created, period.tz), actor or "system", action, ttype, tid, trepr, outcome, _detail(details))
        for pk, created, actor, action, ttype, tid, trepr, outcome, details in rows
    ]


def tier_durations(*, period: Period) -> list[tuple[int, int, float]]:
    """(tier order, tiers completed in the period, average hours from opening to completion)."""
    totals: dict[int, list[float]] = {}
    for order, opened, completed in tier_completions(start=period.start, end=period.end):
        totals.setdefault(order, []).append((completed - opened).total_seconds() / 3600)
    return [(order, len(hours), sum(hours) / len(hours)) for order, hours in sorted(totals.items())]
