"""`make bench` section (i): the embedded default (`make demo`: SQLite in WAL mode, the ORM broker, one
qcluster with two workers, two gunicorn workers, the signer process) — approvals over HTTP until every
signature is stored, against the raw baseline (a) of the same run.

The stack runs on its own state directory and SQLite file (`var/bench-embedded/`); the measuring side
(documents, API tokens, one-time codes, waiting for the jobs) runs in a child process set up on that
database (`python -m bench.embedded`), since the bench process itself is set up on PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .stack import PYTHON, ROOT, Stack


def embedded_stack() -> Stack:
    var_dir = Path(os.environ.get("BENCH_EMBEDDED_VAR_DIR", ROOT / "var" / "bench-embedded"))
    return Stack(
        var_dir=var_dir,
        database_url=f"sqlite:///{var_dir / 'dsign.sqlite3'}",
        redis_url="",
        web_ports=[int(os.environ.get("BENCH_EMBEDDED_PORT", "8015"))],
        web_workers=2,
        clusters=1,
        workers_per_cluster=2,
        extra_env={"LOG_LEVEL": "WARNING", "EMAIL_URL": "dummymail://", "DEBUG": "false"},
    )


def prepare(stack: Stack) -> None:
    if not (stack.var_dir / "softhsm").exists():
        # A fresh token cannot sign for certificates an old database holds: start both afresh.
        (stack.var_dir / "dsign.sqlite3").unlink(missing_ok=True)
    stack.prepare()


@dataclass
class _Process:
    pid: int


@dataclass
class _Base:
    """What the measuring helpers need of the stack, in the child: its URL and its process groups."""

    base_url: str
    groups: dict[str, int]
    database_url: str = ""  # SQLite: no PostgreSQL backends of its own to count

    @property
    def processes(self) -> dict[str, _Process]:
        return {name: _Process(pid) for name, pid in self.groups.items()}

    def cluster_pids(self, name: str) -> list[int]:
        return Stack.cluster_pids(self, name)  # type: ignore[arg-type]


def measure_here(*, count: int, base_url: str, groups: dict[str, int]) -> dict:
    """In the child: one document approved as a warm-up (every process has served a request and run a
    job), then `count` documents approved by head1 and head2 over HTTP until all signatures are stored;
    CPU of the stack's processes over the timed part only."""
    import django

    django.setup()
    from . import measure
    from .flow import documents_start

    stack = _Base(base_url, groups)
    warm = documents_start(2, level="B-B")
    measure._approvals_throughput(stack, documents=warm, signers=["head1", "head2"], clients=4)
    # 30 approvals take about 2 s on an idle machine: the median of ROUNDS rounds is the figure.
    rates, elapsed = [], []
    cpu = measure._cpu_seconds(stack)
    for _ in range(ROUNDS):
        documents = documents_start(count, level="B-B")
        rate, seconds = measure._approvals_throughput(stack, documents=documents, signers=["head1", "head2"], clients=8)
        rates.append(rate)
        elapsed.append(seconds)
    after = measure._cpu_seconds(stack)
    signatures = 2 * count
    cpu_ms = {k: 1000 * (after[k] - cpu[k]) / (signatures * ROUNDS) for k in ("web", "workers", "signer")}
    middle = sorted(range(ROUNDS), key=lambda i: rates[i])[ROUNDS // 2]
    return {"rate": rates[middle], "elapsed": elapsed[middle], "signatures": signatures, "cpu_ms": cpu_ms,
            "rates": rates}  # fmt: skip


ROUNDS = 3


def run(*, stack: Stack, count: int) -> dict:
    """Start the embedded stack and measure in a child process set up on its database."""
    stack.start_web()
    stack.start_clusters()
    time.sleep(3)
    groups = {name: process.pid for name, process in stack.processes.items()}
    child = subprocess.run(
        [PYTHON, "-m", "bench.embedded", "--count", str(count), "--base-url", stack.base_url,
         "--groups", json.dumps(groups)],
        cwd=ROOT,
        env=stack.admin_env(DJANGO_SETTINGS_MODULE="dsign.settings"),
        capture_output=True,
        text=True,
        timeout=1800,
    )  # fmt: skip
    if child.returncode != 0:
        raise RuntimeError(f"bench.embedded failed: {child.stderr[-1500:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.embedded")
    parser.add_argument("--count", type=int, default=15)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--groups", required=True, help="JSON: process name -> process group id")
    args = parser.parse_args(argv)
    print(json.dumps(measure_here(count=args.count, base_url=args.base_url, groups=json.loads(args.groups))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
