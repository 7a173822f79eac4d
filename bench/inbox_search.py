"""Inbox search over 100,000 documents, one request at a time (issue 19, acceptance 4).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dsign_search python -m bench.inbox_search [--documents N]

Runs in-process against its own PostgreSQL database (migrated and filled here, kept between runs): the demo
organisation and workflow from fixtures/, one real route as the model, then copies of it written with COPY
(bench.bulk), the routes of ended copies closed. It then asks `GET /api/v1/inbox/?q=…` as head1, one request
after another, and prints the median and p95 with the plans PostgreSQL chose for the page queries. Prints;
asserts nothing timed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

# The four of `make bench` (e), then the hardest kind: a 2-character word in no title (trigrams cannot
# serve it, so every one of head1's waiting seats is read before the answer "none" is known).
QUERIES = ["bulk 4242", "bench 99", "#1", "ไม่มีเรื่องนี้", "ab"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("set DATABASE_URL to a PostgreSQL database of its own", file=sys.stderr)
        return 2
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dsign.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from bench import bulk
    from tests.conftest import blank_pdf
    from workflows import selectors, services
    from workflows.models import Document, WorkflowTemplate

    call_command("migrate", verbosity=0)
    fixtures = settings.BASE_DIR / "fixtures"
    call_command("roles_sync", verbosity=0) if "roles_sync" in _commands() else None
    call_command("loaddata", fixtures / "demo_organisation.json", fixtures / "demo_workflows.json", verbosity=0)
    model = Document.objects.filter(title=bulk.BULK_TITLE + " model").first()
    if model is None:
        model = services.route_start(
            title=bulk.BULK_TITLE + " model",
            pdf=blank_pdf(),
            template=WorkflowTemplate.objects.get(code="memo-2-tier"),
            actor=User.objects.get(username="requester"),
        )
    bulk.documents_ensure(args.documents, template_id=model.pk)
    bulk.routes_settle()
    head1 = User.objects.get(username="head1")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(head1)
    times, cpu, by_query = [], [], {q: [] for q in QUERIES}
    client.get("/api/v1/inbox/")  # warm the connection and the caches once
    load_before = os.getloadavg()[0]
    for _ in range(args.rounds):
        for q in QUERIES:
            started, started_cpu = time.perf_counter(), time.process_time()
            response = client.get("/api/v1/inbox/", {"q": q, "limit": 25})
            times.append(1000 * (time.perf_counter() - started))
            cpu.append(1000 * (time.process_time() - started_cpu))
            by_query[q].append(times[-1])
            if response.status_code != 200:
                print(f"GET /api/v1/inbox/?q={q} answered {response.status_code}", file=sys.stderr)
                return 1
    waiting = selectors.inbox(head1).count()
    # What PostgreSQL spends on each search's SQL (EXPLAIN ANALYZE: server time, whatever the queueing for a
    # core): with other work on the cores the wall time above is mostly waiting for one.
    database, plans = {}, []
    for q in QUERIES:
        with CaptureQueriesContext(connection) as queries:
            client.get("/api/v1/inbox/", {"q": q, "limit": 25})
        spent = 0.0
        for sql in [x["sql"] for x in queries.captured_queries if x["sql"].startswith("SELECT")]:
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
                spent += cursor.fetchone()[0][0]["Execution Time"]
        database[q] = spent
        page = [x["sql"] for x in queries.captured_queries if "workflows_assignment" in x["sql"]][-1]
        if q in QUERIES[:2] or q == QUERIES[-1]:
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN ANALYZE " + page)
                plans.append(f"{q!r}:\n" + "\n".join(row[0] for row in cursor.fetchall()))
    print(
        f"inbox search, one request: p95 {statistics.quantiles(times, n=20)[-1]:.1f} ms, "
        f"median {statistics.median(times):.1f} ms over {len(times)} requests ({', '.join(QUERIES)}); "
        f"Django CPU per request median {statistics.median(cpu):.1f} ms, "
        f"p95 {statistics.quantiles(cpu, n=20)[-1]:.1f} ms; "
        f"{Document.objects.count():,} documents, {waiting:,} waiting for head1; "
        f"load {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    standard = [t for q, ts in by_query.items() if q in QUERIES[:4] for t in ts]
    print(
        f"p95 of the four searches of make bench (e), without 'ab': {statistics.quantiles(standard, n=20)[-1]:.1f} ms"
    )
    print("median per search: " + "; ".join(f"{q!r} {statistics.median(t):.0f} ms" for q, t in by_query.items()))
    print(
        "PostgreSQL time per search (all its SELECTs): " + "; ".join(f"{q!r} {t:.1f} ms" for q, t in database.items())
    )
    print("plans of the page query:\n" + "\n".join(plans))
    return 0


def _commands() -> set[str]:
    from django.core.management import get_commands

    return set(get_commands())


if __name__ == "__main__":
    raise SystemExit(main())
