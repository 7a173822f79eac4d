"""Bulk data for the latency measurements: a hundred thousand documents and a million events, kept between
runs (written with COPY on PostgreSQL), so pages and reports are timed on a realistically large database."""

from __future__ import annotations

import time

from .flow import documents_start

BULK_TITLE = "bench bulk"
BULK_EVENTS_MONTH = (2001, 1)


def documents_ensure(count: int, *, template_id: int | None = None) -> int:
    """At least `count` documents titled "bench bulk …" in the database, kept between runs: copies of
    one real route (document, version, tiers, seats) written with COPY. Returns how many exist."""
    import random
    import secrets
    from datetime import timedelta

    from django.db import connection, transaction
    from django.utils import timezone
    from psycopg.types.json import Jsonb

    from workflows.models import Assignment, Document, DocumentAccess, DocumentVersion, RouteTier
    from workflows.services import document_access_rebuild

    have = Document.objects.filter(title__startswith=BULK_TITLE).count()
    if have >= count:
        return have
    need = count - have
    if template_id is None:
        [template_id] = documents_start(1, level="B-B")
    models = [Document, DocumentVersion, RouteTier, Assignment]
    fields = {m: [f.attname for f in m._meta.concrete_fields] for m in models}
    rows = {
        m: list(
            m.objects.filter(**({"pk": template_id} if m is Document else {"document_id": template_id}))
            .order_by("pk")
            .values_list(*fields[m])
        )
        for m in models
    }
    rng = random.Random(have)
    now = timezone.now()
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        first = {}
        for m in models:
            cursor.execute(f"LOCK TABLE {m._meta.db_table} IN EXCLUSIVE MODE")
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {m._meta.db_table}")
            first[m] = cursor.fetchone()[0]
        per_doc = {m: len(rows[m]) for m in models}
        for m in models:
            columns = ", ".join(connection.ops.quote_name(m._meta.get_field(a).column) for a in fields[m])
            index = {a: i for i, a in enumerate(fields[m])}
            with cursor.cursor.copy(f"COPY {m._meta.db_table} ({columns}) FROM STDIN") as copy:
                for k in range(need):
                    doc_id = first[Document] + k
                    created = now - timedelta(minutes=5 * (have + k))
                    tier_ids = {
                        old[0]: first[RouteTier] + k * per_doc[RouteTier] + j for j, old in enumerate(rows[RouteTier])
                    }
                    for j, template in enumerate(rows[m]):
                        row = [Jsonb(v) if isinstance(v, dict | list) else v for v in template]
                        row[index["id"]] = first[m] + k * per_doc[m] + j
                        if m is Document:
                            row[index["title"]] = f"{BULK_TITLE} {have + k}"
                            row[index["created_at"]] = row[index["updated_at"]] = created
                            row[index["status"]] = rng.choice(("in_progress", "completed", "completed", "rejected"))
                            row[index["verification_token"]] = secrets.token_urlsafe(16)  # unique per document
                        else:
                            row[index["document_id"]] = doc_id
                        if m is Assignment:
                            row[index["tier_id"]] = tier_ids[template[index["tier_id"]]]
                        copy.write_row(row)
        for m in models:
            table = m._meta.db_table
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
        # COPY bypasses the services that keep who-sees-what; the copies get their rows the same way.
        document_access_rebuild(from_id=first[Document])
    with connection.cursor() as cursor:
        for m in [*models, DocumentAccess]:
            cursor.execute(f"ANALYZE {m._meta.db_table}")
    print(f"  generated {need:,} documents in {time.perf_counter() - started:.0f} s", flush=True)
    return count


def routes_settle() -> int:
    """Bulk documents that are not in progress get their routes ended the way the workflow ends one:
    open tiers closed, pending seats not needed (and off the inbox). The copies are of a route just
    started, so without this a completed document would still wait in its signers' inboxes. Idempotent;
    returns the seats moved."""
    from django.db import connection

    from workflows.models import Assignment, Document, RouteTier

    documents = Document._meta.db_table
    ended = f"SELECT id FROM {documents} WHERE title LIKE %s AND status <> 'in_progress'"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {RouteTier._meta.db_table} SET status = 'closed' "
            f"WHERE status IN ('pending', 'active') AND document_id IN ({ended})",
            [f"{BULK_TITLE}%"],
        )
        cursor.execute(
            f"UPDATE {Assignment._meta.db_table} SET status = 'not_needed', waiting_since = NULL "
            f"WHERE status = 'pending' AND document_id IN ({ended})",
            [f"{BULK_TITLE}%"],
        )
        moved = cursor.rowcount
    if moved and connection.get_autocommit():
        # VACUUM, not only ANALYZE: until the old row versions are gone the inbox index still lists every
        # moved seat, and a scan of it visits them all (and index-only scans need the visibility map).
        with connection.cursor() as cursor:
            for model in (Assignment, RouteTier):
                cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
    return moved


def events_ensure(count: int) -> int:
    """At least `count` chained audit events in a month nobody else uses (kept between runs)."""
    from django.db import connection, transaction

    from audit.models import Event

    from .report_bench import synthetic_events_insert

    year, month = BULK_EVENTS_MONTH
    have = Event.objects.filter(created_at__year=year, created_at__month=month).count()
    if have >= count:
        return have
    started = time.perf_counter()
    with transaction.atomic():
        synthetic_events_insert(count=count - have, year=year, month=month, seed=have)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Event._meta.db_table}")
    print(f"  generated {count - have:,} audit events in {time.perf_counter() - started:.0f} s", flush=True)
    return count
