"""The production topology on one machine: PostgreSQL + Redis, two gunicorn web processes, two qcluster workers.

`scripts/topology.sh` runs this. In the foreground it serves until Ctrl-C (which stops everything); with
`--check` it brings everything up, runs the API flow of DESIGN.md against it, verifies the signed file
with `manage.py verify_pdf`, stops, and exits 0 only if all of that worked.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from .flow import memo_flow, one_page_pdf
from .stack import ROOT, Stack, StackError

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/dsign_topology"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/1"


def topology_stack(*, var_dir: Path | None = None) -> Stack:
    ports = [int(p) for p in os.environ.get("TOPOLOGY_PORTS", "8001,8002").split(",")]
    return Stack(
        var_dir=var_dir or Path(os.environ.get("TOPOLOGY_VAR_DIR", ROOT / "var" / "topology")),
        database_url=os.environ.get("TOPOLOGY_DATABASE_URL", DEFAULT_DATABASE_URL),
        redis_url=os.environ.get("TOPOLOGY_REDIS_URL", DEFAULT_REDIS_URL),
        web_ports=ports,
        web_workers=int(os.environ.get("WEB_WORKERS", "2")),
        clusters=2,
        workers_per_cluster=int(os.environ.get("Q_WORKERS", "1")),
    )


def check(*, stack: Stack) -> int:
    """The DESIGN.md flow on the running topology; 0 when the signed file verifies."""
    started = time.monotonic()
    users = ["requester", "head1", "head2", "director"]
    tokens = stack.api_tokens(users)

    def otp_for(user: str):
        def make() -> str:
            code = secrets.token_hex(4)
            stack.manage("addstatictoken", user, "-t", code)
            return code

        return make

    document, pdf = memo_flow(
        base_url=stack.base_url,
        tokens=tokens,
        otps={u: otp_for(u) for u in ("head1", "head2", "director")},
        pdf=one_page_pdf("topology check"),
    )
    out = stack.var_dir / f"check-{document['id']}.pdf"
    out.write_bytes(pdf)
    verdict = stack.manage("verify_pdf", str(out), check=False)
    print(verdict.stdout.strip())
    signed = [a["signer"] for t in document["tiers"] for a in t["assignments"] if a["status"] == "signed"]
    print(
        f"document {document['id']}: {document['status']} at {document['pades_level']}, signed by "
        f"{', '.join(signed)}; verify_pdf exit {verdict.returncode}; {time.monotonic() - started:.1f} s"
    )
    apart = keys_apart(stack=stack)
    print(
        "keys apart: "
        + ("; ".join(apart) if apart else "CA, services and users' tokens apart; users' PIN in the signer only")
    )
    return verdict.returncode or (1 if apart else 0)


def keys_apart(*, stack: Stack) -> list[str]:
    """Issue 16, acceptance 1 on the running topology: three tokens, and no users' PIN in the environment
    of any web or worker process (only the signer's)."""
    problems = []
    slots = subprocess.run(
        ["softhsm2-util", "--show-slots"],
        env={**os.environ, "SOFTHSM2_CONF": str(stack.var_dir / "softhsm2.conf")},
        capture_output=True,
        text=True,
    ).stdout
    labels = set(re.findall(r"^\s*Label:\s+(\S+)\s*$", slots, flags=re.MULTILINE))
    missing = {"dsign-ca", "dsign-services", "dsign-users"} - labels
    if missing:
        problems.append(f"tokens missing: {sorted(missing)}")
    for name in list(stack.processes):
        for pid in stack.cluster_pids(name):
            try:
                environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            holds = any(e.startswith(b"HSM_USERS_PIN") for e in environment)
            if holds != (name == "signer"):
                problems.append(f"{name} (pid {pid}) {'holds' if holds else 'lacks'} the users' PIN")
    return problems


def serve(*, stack: Stack) -> int:
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    ports = ", ".join(f"http://127.0.0.1:{p}" for p in stack.web_ports)
    print(
        f"\n  dsign topology: web on {ports}; {stack.clusters} qcluster processes; "
        f"database {stack.database_url}; broker {stack.redis_url}\n"
        f"  state (token, media, logs): {stack.var_dir}   Ctrl-C stops everything.\n",
        flush=True,
    )
    while not stopping:
        dead = [name for name, p in stack.processes.items() if p.poll() is not None]
        if dead:
            print(f"{', '.join(dead)} exited; stopping. Logs: {stack.var_dir / 'logs'}", file=sys.stderr)
            return 1
        time.sleep(0.5)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/topology.sh", description=__doc__)
    parser.add_argument("--check", action="store_true", help="start, run the API flow, verify, stop")
    args = parser.parse_args(argv)
    stack = topology_stack()
    try:
        print(f"preparing {stack.database_url} and {stack.var_dir} ...", flush=True)
        stack.prepare()
        stack.start_clusters()
        stack.start_web()
        return check(stack=stack) if args.check else serve(stack=stack)
    except (StackError, AssertionError) as exc:
        print(f"topology: {exc}", file=sys.stderr)
        for name in stack.processes:
            print(f"--- {name} log ---\n{stack.log_tail(name)}", file=sys.stderr)
        return 1
    finally:
        stack.stop_all()


if __name__ == "__main__":
    sys.exit(main())
