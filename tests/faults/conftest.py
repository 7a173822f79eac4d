"""A real dsign deployment for fault injection: gunicorn + qcluster processes on PostgreSQL and Redis.

The stack is built once per session in its own state directory and its own PostgreSQL database (dropped
at the end), with a TSA proxy on loopback in front of the app's own TSA so a test can slow it down or
stop it, and a storage that reports a full disk while a flag file exists. The tests run only when asked
for (`-m faults`, `make faults`): together they take several minutes because recovery is left to the
real sweeper schedule.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from bench.flow import Api, document_upload, one_page_pdf
from bench.stack import Stack, free_port

# scripts/run-tests.sh names the servers (the configured ones, or throwaway ones it started).
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("FAULTS_REDIS_URL") or os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379") + "/14"
SWEEP_TIMEOUT = 150  # the sweeper schedule fires once a minute, checked every 30 s by the cluster


def pytest_collection_modifyitems(config, items):
    if "faults" in (config.getoption("markexpr") or "") or os.environ.get("DSIGN_FAULTS") == "1":
        return
    skip = pytest.mark.skip(reason="fault tests run with -m faults (make faults)")
    for item in items:
        if "faults" in item.keywords:
            item.add_marker(skip)


class TSAProxy:
    """Forwards RFC 3161 requests to the app's TSA; can hold them (a slow TSA) or stop listening."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.port = free_port()
        self.release = threading.Event()
        self.release.set()
        self.received = threading.Event()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/tsa"

    def start(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy.received.set()
                proxy.release.wait(timeout=300)
                upstream = requests.post(
                    proxy.upstream, data=body, headers={"Content-Type": self.headers["Content-Type"]}, timeout=30
                )
                self.send_response(upstream.status_code)
                self.send_header("Content-Type", upstream.headers.get("Content-Type", "application/timestamp-reply"))
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                # The worker that asked may have been killed meanwhile.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(upstream.content)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class FaultStack:
    """The running deployment plus what the tests ask of it."""

    def __init__(self, *, stack: Stack, tsa: TSAProxy):
        self.stack = stack
        self.tsa = tsa
        self.tokens = stack.api_tokens(["requester", "head1", "head2", "head3", "director"])
        self.otps = stack.static_otps(["head1", "head2", "head3", "director"], 60)

    def api(self, user: str) -> Api:
        return Api(base_url=self.stack.base_url, token=self.tokens[user])

    def otp(self, user: str) -> str:
        return self.otps[user].pop()

    def sql(self, query: str, params=()) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.stack.database_url, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    def new_document(self, title: str = "บันทึกข้อความ ทดสอบความทนทาน") -> int:
        return document_upload(api=self.api("requester"), pdf=one_page_pdf(secrets.token_hex(4)), title=title)["id"]

    def approve(self, user: str, document_id: int) -> requests.Response:
        return self.api(user).post(f"/api/v1/documents/{document_id}/approve/", json={"otp": self.otp(user)})

    def job(self, document_id: int, field_prefix: str = "Sig") -> dict:
        rows = self.sql(
            "SELECT id, status, level, error_code, error_message, attempts FROM signing_signingjob "
            "WHERE subject_id = %s AND kind = 'signature' ORDER BY id",
            [document_id],
        )
        keys = ("id", "status", "level", "error_code", "error_message", "attempts")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def wait_jobs(self, document_id: int, *, status: str, count: int = 1, timeout: float = SWEEP_TIMEOUT) -> list:
        deadline = time.monotonic() + timeout
        while True:
            jobs = self.job(document_id)
            if len(jobs) >= count and all(j["status"] == status for j in jobs):
                return jobs
            if time.monotonic() > deadline:
                raise AssertionError(f"jobs of document {document_id} not {status} in {timeout} s: {jobs}")
            time.sleep(0.5)

    def signed_versions(self, document_id: int) -> int:
        return self.sql(
            "SELECT count(*) FROM workflows_documentversion WHERE document_id = %s AND kind = 'signed'",
            [document_id],
        )[0][0]

    def document(self, document_id: int) -> dict:
        return self.api("requester").get(f"/api/v1/documents/{document_id}/").json()

    def file(self, document_id: int) -> bytes:
        response = self.api("requester").get(f"/api/v1/documents/{document_id}/file/")
        assert response.status_code == 200
        return response.content

    def signature_fields(self, document_id: int) -> list[str]:
        import io

        from pyhanko.pdf_utils.reader import PdfFileReader

        reader = PdfFileReader(io.BytesIO(self.file(document_id)))
        return [sig.field_name for sig in reader.embedded_regular_signatures]

    def verify_pdf(self, document_id: int) -> subprocess.CompletedProcess:
        path = self.stack.var_dir / f"doc-{document_id}.pdf"
        path.write_bytes(self.file(document_id))
        return self.stack.manage("verify_pdf", str(path), "--json", check=False)

    def audit_verify(self) -> subprocess.CompletedProcess:
        return self.stack.manage("audit_verify", check=False)

    def cluster(self, **env: str) -> str:
        name = f"worker-{secrets.token_hex(3)}"
        self.stack.start_cluster(name, **env)
        return name

    def stop_clusters(self, *, sig=None) -> None:
        import signal

        names = [n for n in self.stack.processes if n.startswith("worker")]
        self.stack.stop(*names, sig=sig or signal.SIGTERM)

    @property
    def disk_full_flag(self) -> Path:
        return self.stack.var_dir / "disk-full"


def _reachable() -> str | None:
    import psycopg
    import redis

    try:
        psycopg.connect(PG_ADMIN_URL + "/postgres", connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable: {exc}"
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        return f"Redis not reachable: {exc}"
    return None


@pytest.fixture(scope="session")
def fault_stack():
    problem = _reachable()
    if problem:
        pytest.skip(problem)
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    var_dir = Path(tempfile.mkdtemp(prefix="dsign-faults-"))
    port = free_port()
    tsa = TSAProxy(upstream=f"http://127.0.0.1:{port}/pki/tsa")
    tsa.start()
    stack = Stack(
        var_dir=var_dir,
        database_url=f"{PG_ADMIN_URL}/dsign_faults_{secrets.token_hex(4)}",
        redis_url=REDIS_URL,
        web_ports=[port],
        web_workers=2,
        clusters=1,
        workers_per_cluster=1,
        extra_env={
            "DJANGO_SETTINGS_MODULE": "tests.faults.fault_settings",
            "TSA_URL": tsa.url,
            "SIGNING_KEY_ALGORITHM": "ec-p256",
            # Jobs nobody finished are re-enqueued by the sweeper after Q_RETRY seconds.
            "Q_TIMEOUT": "60",
            "Q_RETRY": "15",
            "DB_CONN_MAX_AGE": "60",
        },
    )
    try:
        stack.prepare()
        stack.template_level(level="B-T")
        stack.start_web()
        yield FaultStack(stack=stack, tsa=tsa)
    finally:
        stack.stop_all()
        tsa.stop()
        from bench.stack import database_drop

        database_drop(stack.database_url)
        shutil.rmtree(var_dir, ignore_errors=True)


@pytest.fixture
def faults(fault_stack):
    """The stack with exactly one healthy cluster running, a healthy TSA and a disk with room."""
    fault_stack.tsa.release.set()
    fault_stack.tsa.received.clear()
    if fault_stack.tsa.server is None:
        fault_stack.tsa.start()
    fault_stack.disk_full_flag.unlink(missing_ok=True)
    fault_stack.stop_clusters()
    fault_stack.cluster()
    yield fault_stack
    fault_stack.tsa.release.set()
