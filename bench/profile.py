"""`python -m bench.profile`: where one request's time goes, on the bench deployment's database.

Times (wall and this process's CPU, medians) and profiles with cProfile, in-process through Django's test
client after a warm-up: one B-B approval (`POST /api/v1/documents/<id>/approve/`), the signing job it
queues (run here, not by a worker), one document-list page and one inbox page. Writes, per request,
`<name>.prof`, the top functions by cumulative and own time and its SQL by duration into `--out`.
Run it with the bench stack stopped (`python -m bench` stops its own at the end).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .__main__ import bench_stack


def _client(*, username: str):
    from django.test import Client
    from django_otp.plugins.otp_static.models import StaticDevice

    from accounts.models import User
    from accounts.services import api_token_create

    user = User.objects.get(username=username)
    token = api_token_create(user=user, name="bench")[1]
    device, _ = StaticDevice.objects.get_or_create(user=user, name="bench", defaults={"confirmed": True})
    return Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST="127.0.0.1"), device


def _otp(*, device) -> str:
    from django_otp.plugins.otp_static.models import StaticToken

    code = secrets.token_hex(6)
    StaticToken.objects.create(device=device, token=code)
    return code


def _profiled(*, name: str, call: Callable[[], object], out: Path) -> str:
    """Run `call` once under cProfile with its queries captured; write the reports; return a summary."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    profile = cProfile.Profile()
    with CaptureQueriesContext(connection) as queries:
        started, cpu = time.perf_counter(), time.process_time()
        profile.enable()
        call()
        profile.disable()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    profile.dump_stats(out / f"{name}.prof")
    for order in ("cumulative", "tottime"):
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats(order).print_stats(50)
        (out / f"{name}.{order}.txt").write_text(text.getvalue())
    slowest = sorted(queries.captured_queries, key=lambda q: -float(q["time"]))
    (out / f"{name}.sql.txt").write_text("".join(f"{float(q['time']) * 1000:8.2f} ms  {q['sql']}\n" for q in slowest))
    return f"{name}: profiled {wall * 1000:.1f} ms wall, {cpu * 1000:.1f} ms CPU, {len(queries)} queries"


def _timed(*, call: Callable[[], object], times: int) -> str:
    call()
    walls, cpus = [], []
    for _ in range(times):
        started, cpu = time.perf_counter(), time.process_time()
        call()
        walls.append(1000 * (time.perf_counter() - started))
        cpus.append(1000 * (time.process_time() - cpu))
    return f"median of {times}: {statistics.median(walls):.1f} ms wall, {statistics.median(cpus):.1f} ms CPU"


def _approval(*, client, device) -> Callable[[int], int]:
    """A call that approves one B-B document as head1 and returns the signing job it queued."""
    from signing.models import SigningJob

    def approve(document: int) -> int:
        code = _otp(device=device)
        last = SigningJob.objects.order_by("-id").values_list("id", flat=True).first() or 0
        response = client.post(f"/api/v1/documents/{document}/approve/", {"otp": code}, "application/json")
        if response.status_code != 202:
            raise RuntimeError(f"approve: {response.status_code} {response.content[:300]!r}")
        return SigningJob.objects.filter(id__gt=last, kind="signature").order_by("id").values_list("id", flat=True)[0]

    return approve


def run(*, out: Path, times: int) -> list[str]:
    from signing.services import signing_job_run

    from .flow import documents_start

    out.mkdir(parents=True, exist_ok=True)
    head, device = _client(username="head1")
    requester, _ = _client(username="requester")
    approve = _approval(client=head, device=device)
    lines = []
    for name, client, path in (
        ("list", requester, "/api/v1/documents/?limit=20"),
        ("inbox", head, "/api/v1/inbox/"),
    ):
        lines.append(f"{name} {path}: {_timed(call=lambda c=client, p=path: c.get(p), times=times)}")
        lines.append(_profiled(name=name, call=lambda c=client, p=path: c.get(p), out=out))
    rounds = max(3, times // 3)
    documents = documents_start(rounds + 2, level="B-B")
    signing_job_run(job_id=approve(documents.pop()))  # warm-up: per-process caches (credentials, fonts, HSM)
    approvals, jobs = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        job = approve(documents.pop())
        approvals.append(1000 * (time.perf_counter() - started))
        started = time.perf_counter()
        signing_job_run(job_id=job)
        jobs.append(1000 * (time.perf_counter() - started))
    lines.append(f"approve: median of {rounds}: {statistics.median(approvals):.1f} ms wall (+ 3 queries of the bench)")
    lines.append(f"signing job: median of {rounds}: {statistics.median(jobs):.1f} ms wall")
    job_box: list[int] = []
    document = documents.pop()
    lines.append(_profiled(name="approve", call=lambda: job_box.append(approve(document)), out=out))
    lines.append(_profiled(name="signing_job", call=lambda: signing_job_run(job_id=job_box[0]), out=out))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("var/bench/profile"), help="where the reports go")
    parser.add_argument("--times", type=int, default=20, help="requests per timed median")
    args = parser.parse_args(argv)
    stack = bench_stack()
    # The signer process (issue 16) checks the codes and makes the signatures, as in the deployment.
    stack.start_signer()
    env = stack.env(DJANGO_SETTINGS_MODULE="dsign.settings")
    # The ORM broker: the queued copy of each profiled job waits in the database and, run later by a
    # worker, finds its job done (jobs are idempotent); nothing is left in Redis for the next bench run.
    env.pop("REDIS_URL", None)
    os.environ.update(env)
    import django
    from django.core.management import call_command

    django.setup()
    # Without Redis the throttle counters are a database table, which the bench deployment never made.
    call_command("createcachetable", verbosity=0)
    try:
        for line in run(out=args.out, times=args.times):
            print(line, flush=True)
    finally:
        stack.stop_all()
    print(f"reports in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
