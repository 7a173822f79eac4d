"""Benchmark: the report of a month of N audit events (acceptance: 1,000,000 in under a minute).

`run(events=1_000_000)` inserts synthetic, correctly chained events for January 2000 into the current
database inside a transaction, times `reports.services.report_write` on that month, and rolls everything
back (pass keep=True to leave the events in). Called by `make bench`.
"""

from __future__ import annotations

import hashlib
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ACTIONS = [
    ("document.created", 12),
    ("route.tier_opened", 20),
    ("document.approved", 25),
    ("signing.signature_made", 25),
    ("route.tier_completed", 8),
    ("document.completed", 6),
    ("document.downloaded", 4),
]


class _Rollback(Exception):
    pass


def synthetic_events_insert(*, count: int, year: int = 2000, month: int = 1, seed: int = 9) -> int:
    """Append `count` chained events dated in the given month; returns the last id. Run inside a transaction."""
    from django.db import connection
    from django.utils import timezone

    from audit.models import ChainHead, Event

    rng = random.Random(seed)
    head, _ = ChainHead.objects.select_for_update().get_or_create(pk=1)
    start = datetime(year, month, 1, tzinfo=timezone.get_current_timezone()).astimezone(UTC)
    span = (28 * 24 * 3600) / count
    actions = [a for a, w in ACTIONS for _ in range(w)]
    table = Event._meta.db_table
    columns = (
        "id, created_at, actor_id, actor_repr, action, target_type, target_id, target_repr, outcome, "
        "ip_address, user_agent, details, prev_hash, hash, api_client"
    )
    # api_client is NOT NULL and left out of the hash when empty (audit.services), as for a person's event.
    sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * 15)})"
    prev, next_id, batch = head.last_hash, head.last_event_id + 1, []
    with connection.cursor() as cursor:
        for i in range(count):
            created = start + timedelta(seconds=i * span)
            document = 1_000_000 + i // 8
            failed = i % 2000 == 1999
            action = "signing.failed" if failed else actions[rng.randrange(len(actions))]
            details = {"code": "hsm_unavailable", "message": "HSM unreachable"} if failed else {"round": 1}
            content = {
                "id": next_id,
                "created_at": created.isoformat(timespec="microseconds"),
                "actor_id": None,
                "actor_repr": f"user{i % 500}",
                "action": action,
                "target_type": "workflows.document",
                "target_id": str(document),
                "target_repr": f"บันทึกข้อความ ที่ {document}",
                "outcome": "failure" if failed else "success",
                "ip_address": None,
                "user_agent": "",
                "details": details,
                "prev_hash": prev,
            }
            canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
            digest = hashlib.sha256(canonical.encode()).hexdigest()
            batch.append(
                (
                    next_id,
                    connection.ops.adapt_datetimefield_value(created),
                    None,
                    content["actor_repr"],
                    action,
                    content["target_type"],
                    content["target_id"],
                    content["target_repr"],
                    content["outcome"],
                    None,
                    "",
                    connection.ops.adapt_json_value(details, None),
                    prev,
                    digest,
                    "",
                )
            )
            prev, next_id = digest, next_id + 1
            if len(batch) >= 20_000:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
    ChainHead.objects.filter(pk=1).update(last_event_id=next_id - 1, last_hash=prev)
    return next_id - 1


def run(events: int = 1_000_000, keep: bool = False) -> dict:
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()
    from django.db import transaction

    from reports import selectors
    from reports.services import report_write

    result: dict = {"events": events}
    try:
        with transaction.atomic():
            began = time.perf_counter()
            synthetic_events_insert(count=events)
            result["insert_seconds"] = round(time.perf_counter() - began, 1)
            with tempfile.TemporaryDirectory(prefix="dsign-bench-") as tmp:
                began, cpu = time.perf_counter(), time.process_time()
                files = report_write(period=selectors.period_month(year=2000, month=1), out_dir=Path(tmp))
                result["report_seconds"] = round(time.perf_counter() - began, 1)
                # CPU time of this process: on a busy machine it says what the wall clock would be alone.
                result["report_cpu_seconds"] = round(time.process_time() - cpu, 1)
                result["counts"] = files.counts
                result["bytes"] = {path.suffix[1:]: path.stat().st_size for path in files.paths}
            if not keep:
                raise _Rollback
    except _Rollback:
        pass
    result["under_a_minute"] = result["report_seconds"] < 60
    return result


if __name__ == "__main__":
    import os
    import sys

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dsign.settings")
    sys.stdout.write(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000), indent=2) + "\n")
