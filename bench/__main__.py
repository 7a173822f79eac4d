"""`make bench`: dsign's figures on this machine, printed as a table and written into BENCHMARKS.md.

Runs against its own deployment (PostgreSQL database `dsign_bench`, Redis db 2, state under var/bench/):
gunicorn web processes and qcluster workers started by bench.stack, approvals made over HTTP as a client
would. `--only baseline,pipeline` picks sections; `--quick` shrinks every workload.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .stack import ROOT, Stack

SECTIONS = ("baseline", "activation", "pipeline", "embedded", "batch", "scaling", "latency", "verification", "report")


def bench_stack() -> Stack:
    return Stack(
        var_dir=Path(os.environ.get("BENCH_VAR_DIR", ROOT / "var" / "bench")),
        database_url=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dsign_bench"),
        redis_url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2"),
        # Fixed: the first run writes these into the certificates' CRL/OCSP URLs (DSIGN_BASE_URL).
        web_ports=[int(p) for p in os.environ.get("BENCH_PORTS", "8011,8012").split(",")],
        web_workers=2,
        clusters=2,
        workers_per_cluster=1,
        # As in production: DEBUG off (Django would keep every query of a process in memory). The per-user
        # API throttle (100/s) is a policy, not capacity: (e)'s 50 clients share one user.
        extra_env={
            "LOG_LEVEL": "WARNING",
            "EMAIL_URL": "dummymail://",
            "DEBUG": "false",
            "API_THROTTLE_USER": "100000/s",
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}")
    parser.add_argument("--quick", action="store_true", help="small workloads (a smoke run, not the figures)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")

    stack = bench_stack()
    print(f"preparing {stack.database_url} and {stack.var_dir} ...", flush=True)
    stack.prepare()
    # This process is an administrator's shell on the stack (the baseline uses a user's key directly).
    os.environ.update(stack.admin_env(DJANGO_SETTINGS_MODULE="dsign.settings"))
    import django

    django.setup()
    from . import measure

    started, load_before = time.monotonic(), measure._load()
    print(f"load average {load_before}", flush=True)
    rows: list[measure.Figure] = []
    try:
        for section in SECTIONS:
            if section in only:
                print(f"== {section}", flush=True)
                try:
                    rows.extend(getattr(measure, section)(stack=stack, quick=args.quick, figures=rows))
                except Exception as exc:  # noqa: BLE001 - one broken section must not lose the others
                    rows.append(measure.Figure(f"{section}", None, "", verdict="not measured", note=repr(exc)[:200]))
                print(measure.table(rows[-3:]), flush=True)
    finally:
        stack.stop_all()
    print()
    print(measure.table(rows))
    if not args.no_write:
        measure.benchmarks_write(
            rows=rows,
            command="python -m bench" + (" --quick" if args.quick else "") + (f" --only {args.only}" if argv else ""),
            seconds=time.monotonic() - started,
            load_before=load_before,
        )
        print("BENCHMARKS.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or None))
