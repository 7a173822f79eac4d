"""A real gunicorn serving the test run's database and token, for tests that need the whole HTTP path."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from bench.stack import free_port

ROOT = Path(__file__).resolve().parents[2]


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def http_json(url: str) -> tuple[int, dict]:
    status, _, body = http_get(url)
    return status, json.loads(body)


@contextlib.contextmanager
def gunicorn(env: dict[str, str], *, log: Path | None = None) -> Iterator[str]:
    """Serve dsign with `env` on a free loopback port (dsign's gunicorn config); yields the base URL."""
    port = free_port()
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:dsign.gunicorn_conf", "dsign.wsgi:application"]
    server = subprocess.Popen(
        [*argv, "--bind", f"127.0.0.1:{port}", "--workers", "1"], cwd=ROOT, env=env, stdout=out, stderr=out
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if server.poll() is not None:
                raise AssertionError(f"gunicorn exited with {server.returncode}")
            try:
                http_get(f"{base}/healthz")
                break
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
        if log:
            out.close()
