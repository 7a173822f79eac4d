"""The measurements of `make bench`, each returning figures with their target. Runs inside Django (set up by
bench.__main__ on the bench deployment's database and token)."""

from __future__ import annotations

import io
import os
import platform
import re
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from .flow import Api, one_page_pdf
from .stack import ROOT, Stack


@dataclass
class Figure:
    name: str
    value: float | None
    unit: str
    target: str = ""
    verdict: str = ""
    note: str = ""


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"


def table(rows: list[Figure]) -> str:
    lines = ["| figure | value | target | how far | notes |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.name} | {_fmt(r.value)} {r.unit} | {r.target} | {r.verdict} | {r.note} |")
    return "\n".join(lines)


def _at_least(value: float, target: float) -> str:
    return f"{'met' if value >= target else 'missed'}: {value / target:.0%} of target"


def _at_most(value: float, target: float) -> str:
    return f"{'met' if value <= target else 'missed'}: {value / target:.0%} of the limit"


# --- (a) baseline ------------------------------------------------------------------------------------------


def _credentials(username: str):
    from accounts.models import User
    from certificates.selectors import certificate_for_signing, signing_credentials_get

    user = User.objects.get(username=username)
    return signing_credentials_get(certificate_id=certificate_for_signing(user=user).pk)


def baseline(*, stack: Stack, quick: bool, figures: list[Figure]) -> list[Figure]:
    """pyHanko signing one one-page PDF in a tight loop with one SoftHSM key, no appearance (B-B)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.signers import PdfSignatureMetadata, sign_pdf

    from signing import hsm

    creds = _credentials("head1")
    pdf = one_page_pdf()
    count = 40 if quick else 300
    with hsm.signer(label=creds.key_label, signing_cert=creds.certificate, other_certs=creds.chain) as signer:
        for _ in range(5):
            sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), PdfSignatureMetadata(field_name="Sig1"), signer=signer)
        started = time.perf_counter()
        for _ in range(count):
            sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), PdfSignatureMetadata(field_name="Sig1"), signer=signer)
        elapsed = time.perf_counter() - started
    return [
        Figure("(a) baseline: pyHanko + SoftHSM, one process", count / elapsed, "sig/s", note=f"{count} signatures"),
        Figure("(a) baseline: time per signature", 1000 * elapsed / count, "ms", "≈16 ms (issue 3)"),
    ]


# --- (b)–(d) the pipeline ------------------------------------------------------------------------------------


def _documents(count: int, *, level: str) -> list[int]:
    from accounts.models import User
    from workflows import services
    from workflows.models import WorkflowTemplate

    WorkflowTemplate.objects.filter(code="memo-2-tier").update(pades_level=level)
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    requester = User.objects.get(username="requester")
    pdf = one_page_pdf()
    return [
        services.route_start(title=f"bench {i}", pdf=pdf, template=template, actor=requester, placements=None).pk
        for i in range(count)
    ]


def _clients(usernames: list[str], base_url: str, codes: int) -> tuple[dict[str, Api], dict[str, list[str]]]:
    import secrets

    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
    from rest_framework.authtoken.models import Token

    from accounts.models import User

    apis, otps = {}, {}
    for username in usernames:
        user = User.objects.get(username=username)
        apis[username] = Api(base_url=base_url, token=Token.objects.get_or_create(user=user)[0].key)
        device, _ = StaticDevice.objects.get_or_create(user=user, name="bench", defaults={"confirmed": True})
        otps[username] = [secrets.token_hex(6) for _ in range(codes)]
        StaticToken.objects.bulk_create([StaticToken(device=device, token=t) for t in otps[username]])
    return apis, otps


def _ensure_running(stack: Stack, *, clusters: int) -> None:
    if not any(n.startswith("web") for n in stack.processes):
        stack.start_web()
    running = sorted(n for n in stack.processes if n.startswith("worker"))
    if len(running) != clusters:
        stack.stop(*running)
        for index in range(1, clusters + 1):
            stack.start_cluster(f"worker{index}")
        time.sleep(3)  # let the workers import Django before the clock starts


def _approvals_throughput(
    stack: Stack, *, documents: list[int], signers: list[str], clients: int = 8, timeout: float = 1800
) -> tuple[float, float]:
    """Approve every document as each signer over HTTP; returns (signatures/s, seconds) from the first
    approval to the last stored signature."""
    from signing.models import JobStatus, SigningJob

    apis, otps = _clients(signers, stack.base_url, len(documents))
    last_job = SigningJob.objects.order_by("-id").values_list("id", flat=True).first() or 0
    pairs = [(signer, doc) for doc in documents for signer in signers]

    def approve(pair):
        signer, doc = pair
        response = apis[signer].post(f"/api/v1/documents/{doc}/approve/", json={"otp": otps[signer].pop()})
        if response.status_code != 202:
            raise RuntimeError(f"approve {doc} as {signer}: {response.status_code} {response.text[:200]}")

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(approve, pairs))
    deadline = time.monotonic() + timeout
    jobs = SigningJob.objects.filter(id__gt=last_job, kind="signature")
    while jobs.filter(status=JobStatus.DONE).count() < len(pairs):
        failed = jobs.filter(status=JobStatus.FAILED).first()
        if failed or time.monotonic() > deadline:
            raise RuntimeError(f"signing did not finish: {failed.error_message if failed else 'timeout'}")
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    return len(pairs) / elapsed, elapsed


def _baseline_rate(figures: list[Figure]) -> float | None:
    return next((f.value for f in figures if f.unit == "sig/s" and f.name.startswith("(a)")), None)


def pipeline(*, stack: Stack, quick: bool, figures: list[Figure]) -> list[Figure]:
    """Approvals through the API, two workers, signed versions stored: B-B and B-LT."""
    _ensure_running(stack, clusters=2)
    base = _baseline_rate(figures)
    rows = []
    for level in ("B-B", "B-LT"):
        documents = _documents(10 if quick else 60, level=level)
        rate, elapsed = _approvals_throughput(stack, documents=documents, signers=["head1", "head2"])
        note = f"{2 * len(documents)} signatures in {elapsed:.1f} s, 2 workers"
        rows.append(Figure(f"(b) pipeline {level}", rate, "sig/s", note=note))
        if base:
            ratio = rate / base
            target = "≥ 0.8" if level == "B-B" else "(no target)"
            verdict = _at_least(ratio, 0.8) if level == "B-B" else ""
            rows.append(Figure(f"(b) pipeline {level} / baseline", ratio, "×", target, verdict))
    return rows


def batch(*, stack: Stack, quick: bool, figures: list[Figure]) -> list[Figure]:
    """1,000 documents signed by one signer (the batch API when it exists; approvals in a loop until then)."""
    _ensure_running(stack, clusters=2)
    count = 100 if quick else 1000
    documents = _documents(count, level="B-B")
    probe = Api(
        base_url=stack.base_url,
        token=_clients(["head1"], stack.base_url, 0)[0]["head1"].session.headers["Authorization"].split()[1],
    ).get("/api/v1/batches/")
    how = "approvals in a loop (batch API absent)" if probe.status_code == 404 else "approvals in a loop"
    rate, elapsed = _approvals_throughput(stack, documents=documents, signers=["head1"], clients=8)
    return [
        Figure(
            f"(c) batch of {count} (B-B)",
            rate,
            "sig/s",
            "≥ 50 on 2 cores",
            _at_least(rate, 50),
            f"{how}; {elapsed:.1f} s",
        )
    ]


def scaling(*, stack: Stack, quick: bool, figures: list[Figure]) -> list[Figure]:
    """The same signing work with one worker, then two (two qcluster processes)."""
    count = 20 if quick else 120
    rates = {}
    for clusters in (1, 2):
        _ensure_running(stack, clusters=clusters)
        documents = _documents(count, level="B-B")
        rates[clusters], _ = _approvals_throughput(stack, documents=documents, signers=["head1"])
    ratio = rates[2] / rates[1]
    return [
        Figure("(d) 1 worker", rates[1], "sig/s"),
        Figure("(d) 2 workers", rates[2], "sig/s"),
        Figure(
            "(d) scaling 2 / 1 workers", ratio, "×", "→ 2.0 (2 cores, shared with web)", f"{ratio / 2:.0%} of linear"
        ),
    ]


# --- (e) latency ------------------------------------------------------------------------------------------


def _queries_per_page(path: str, username: str) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    from accounts.models import User

    token = Token.objects.get_or_create(user=User.objects.get(username=username))[0].key
    client = Client()
    client.get(path, HTTP_AUTHORIZATION=f"Token {token}")  # first request warms per-process caches
    with CaptureQueriesContext(connection) as queries:
        client.get(path, HTTP_AUTHORIZATION=f"Token {token}")
    return len(queries)


def latency(*, stack: Stack, quick: bool, figures: list[Figure]) -> list[Figure]:
    """Document list (and inbox, when the API has one) p95 with 50 concurrent clients, and queries per page."""
    from workflows.models import Document

    _ensure_running(stack, clusters=2)
    apis, _ = _clients(["requester", "head1"], stack.base_url, 0)
    size = Document.objects.count()
    rows = []
    endpoints = [("document list", "requester", "/api/v1/documents/?limit=20")]
    if apis["head1"].get("/api/v1/inbox/").status_code == 200:
        endpoints.append(("inbox", "head1", "/api/v1/inbox/"))
    clients, per_client = (10, 10) if quick else (50, 20)
    for name, user, path in endpoints:

        def run(_, user=user, path=path):
            api = Api(base_url=stack.base_url, token=apis[user].session.headers["Authorization"].split()[1])
            times = []
            for _ in range(per_client):
                started = time.perf_counter()
                assert api.get(path).status_code == 200
                times.append(1000 * (time.perf_counter() - started))
            return times

        with ThreadPoolExecutor(clients) as pool:
            samples = [t for times in pool.map(run, range(clients)) for t in times]
        p95 = statistics.quantiles(samples, n=20)[-1]
        rows.append(
            Figure(
                f"(e) {name} p95, {clients} clients",
                p95,
                "ms",
                "< 150 ms",
                _at_most(p95, 150),
                f"{size:,} documents (target size 100,000 not generated yet)",
            )
        )
        before = _queries_per_page(path, user)
        _documents(25, level="B-B")
        after = _queries_per_page(path, user)
        rows.append(
            Figure(
                f"(e) {name} queries per page",
                after,
                "queries",
                "constant",
                "constant" if after == before else f"not constant: {before} → {after}",
                f"{before} → {after} after +25 docs",
            )
        )
    return rows


# --- (f) verification ------------------------------------------------------------------------------------------


def verification(*, stack: Stack, quick: bool, figures: list[Figure]) -> list[Figure]:
    from signing import hsm, pades
    from signing.selectors import verification_trust_roots
    from signing.verification import verify_pdf_bytes

    creds = _credentials("head2")
    pdf = one_page_pdf()
    with hsm.signer(label=creds.key_label, signing_cert=creds.certificate, other_certs=creds.chain) as signer:
        for index in range(10):
            pdf = pades.sign_pdf(pdf=pdf, signer=signer, field_name=f"Sig{index + 1}", level="B-B")
    roots = verification_trust_roots()
    report = verify_pdf_bytes(data=pdf, trust_roots=roots)
    assert len(report["signatures"]) == 10 and report["valid"], report["problems"]
    times = []
    for _ in range(3 if quick else 7):
        started = time.perf_counter()
        verify_pdf_bytes(data=pdf, trust_roots=roots)
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    return [
        Figure(
            "(f) verify a 10-signature PDF",
            median,
            "s",
            "< 0.5 s",
            _at_most(median, 0.5),
            "median, verify_pdf_bytes (subprocess)",
        )
    ]


# --- (g) monthly report ---------------------------------------------------------------------------------------


def report(*, stack: Stack, quick: bool, figures: list[Figure]) -> list[Figure]:
    if not (Path(__file__).parent / "report_bench.py").exists():
        return [Figure("(g) monthly report", None, "s", note="bench/report_bench.py not present")]
    from . import report_bench

    events = 50_000 if quick else 1_000_000
    result = report_bench.run(events=events)
    seconds = result.get("seconds") or result.get("report_seconds")
    note = ", ".join(f"{k}={v}" for k, v in result.items() if k not in ("seconds", "report_seconds"))[:200]
    return [
        Figure(
            f"(g) monthly report over {events:,} events",
            seconds,
            "s",
            "< 60 s",
            _at_most(seconds, 60) if seconds else "",
            note,
        )
    ]


# --- BENCHMARKS.md -----------------------------------------------------------------------------------------------

BEGIN, END = "<!-- bench:figures:begin -->", "<!-- bench:figures:end -->"


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    pg = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "show server_version"], capture_output=True, text=True
    ).stdout.strip()
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem / 1024 / 1024:.0f} GiB RAM, "
        f"Python {platform.python_version()}, PostgreSQL {pg}"
    )


def benchmarks_write(*, rows: list[Figure], command: str, seconds: float) -> None:
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    block = (
        f"{BEGIN}\n_Measured {date.today().isoformat()} on {machine()}; `{command}` took {seconds / 60:.1f} min._\n\n"
        f"{table(rows)}\n{END}"
    )
    text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    path.write_text(text)
