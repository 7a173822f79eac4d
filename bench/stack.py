"""dsign as separate processes: web (gunicorn) and workers (qcluster) on one database, one broker, one token.

Used by the production-like topology (`scripts/topology.sh`), by `make bench` and by the fault tests, so all
three exercise the same thing a deployment runs. A `Stack` owns a state directory (its SoftHSM token, media,
logs), a database URL and a broker; it prepares them with the project's own management commands and starts
and stops processes, each in its own process group so a kill reaches the whole cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
GUNICORN = str(Path(PYTHON).parent / "gunicorn")

# Variables of the calling environment that would point a child at someone else's state (a test run's
# var dir, its synchronous queue, its SoftHSM config).
_INHERITED_STATE = (
    "DSIGN_VAR_DIR",
    "DSIGN_BASE_URL",
    "DSIGN_TEST_VAR_DIR",
    "DSIGN_TEST_PORT",
    "DJANGO_LIVE_TEST_SERVER_ADDRESS",
    "DJANGO_SETTINGS_MODULE",
    "SOFTHSM2_CONF",
    "Q_SYNC",
    "DATABASE_URL",
    "REDIS_URL",
    "TSA_URL",
    "MEDIA_ROOT",
    "STATIC_ROOT",
    # Keys apart (issue 16): the users' PIN goes to the signer process and admin commands only.
    "HSM_USERS_PIN",
    "HSM_USERS_PIN_FILE",
    "SIGNER_SOCKET",
    "SIGNER_STATE_DIR",
)


class StackError(RuntimeError):
    pass


def database_ensure(url: str) -> None:
    """Create the PostgreSQL database named by `url` if it is missing (SQLite creates itself)."""
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        return
    import psycopg

    name = parts.path.lstrip("/")
    admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def database_drop(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        return
    import psycopg

    name = parts.path.lstrip("/")
    admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Stack:
    var_dir: Path
    database_url: str
    redis_url: str = ""
    web_ports: list[int] = field(default_factory=lambda: [8001, 8002])
    web_workers: int = 2
    clusters: int = 2
    workers_per_cluster: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        # Written into certificates (CRL, OCSP, CA issuers) and the default TSA URL: the first web process.
        return f"http://127.0.0.1:{self.web_ports[0]}"

    def env(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _INHERITED_STATE and not k.startswith("PYTEST")}
        env.update(
            DSIGN_VAR_DIR=str(self.var_dir),
            DATABASE_URL=self.database_url,
            DSIGN_BASE_URL=self.base_url,
            Q_SYNC="false",
            Q_WORKERS=str(self.workers_per_cluster),
            PYTHONUNBUFFERED="1",
        )
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        env.update(self.extra_env)
        env.update(overrides)
        return env

    @property
    def users_pin_file(self) -> Path:
        return self.var_dir / "secrets" / "hsm-users.pin"

    def admin_env(self, **overrides: str) -> dict[str, str]:
        """An administrator's shell: also given the users' PIN (its commands are their own signer)."""
        env = self.env(**overrides)
        if self.users_pin_file.exists():
            env["HSM_USERS_PIN_FILE"] = str(self.users_pin_file)
        return env

    def manage(self, *args: str, check: bool = True, env: dict[str, str] | None = None, timeout: float = 600):
        result = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env=env or self.admin_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise StackError(f"manage.py {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
        return result

    def shell(self, code: str) -> str:
        """Run Python inside Django (manage.py shell -c) and return what it printed."""
        return self.manage("shell", "-c", code).stdout

    def prepare(self, *, seed: bool = True) -> None:
        """Database, token, CA, schedules and (optionally) the demo data. Idempotent."""
        self.var_dir.mkdir(parents=True, exist_ok=True)
        (self.var_dir / "logs").mkdir(exist_ok=True)
        if not (self.var_dir / "softhsm").exists():
            # A new token cannot sign for certificates a database already holds (their keys were in
            # another token), so a fresh state directory gets a fresh database too.
            database_drop(self.database_url)
        database_ensure(self.database_url)
        self.manage("hsm_init")
        self.manage("migrate", "--noinput", "-v0")
        self.manage("ca_init", "-v0")
        self.manage("register_schedules")
        if seed:
            self.manage("seed_demo")

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        if name in self.processes and self.processes[name].poll() is None:
            raise StackError(f"{name} is already running")
        log = open(self.var_dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.processes[name] = process
        return process

    def start_signer(self, **env_overrides: str) -> None:
        """The signer process, the only one given the users' PIN; web and workers call its socket."""
        if "signer" in self.processes and self.processes["signer"].poll() is None:
            return
        socket_path = self.var_dir / "signer.sock"
        with contextlib.suppress(FileNotFoundError):
            socket_path.unlink()
        self._spawn("signer", [PYTHON, "manage.py", "signer"], self.admin_env(**env_overrides))
        deadline = time.monotonic() + 60
        while not socket_path.exists():
            if self.processes["signer"].poll() is not None or time.monotonic() > deadline:
                raise StackError(f"the signer did not start; see {self.var_dir / 'logs' / 'signer.log'}")
            time.sleep(0.1)

    def start_web(self, *, wait: bool = True) -> None:
        self.start_signer()
        for index, port in enumerate(self.web_ports, start=1):
            self._spawn(
                f"web{index}",
                [
                    GUNICORN,
                    "dsign.wsgi:application",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    str(self.web_workers),
                    "--threads",
                    "4",
                    "--timeout",
                    "120",
                    "--graceful-timeout",
                    "5",
                    "--no-control-socket",
                ],
                self.env(),
            )
        if wait:
            for port in self.web_ports:
                self.wait_http(f"http://127.0.0.1:{port}/pki/root.crt")

    def start_cluster(self, name: str, **env_overrides: str) -> subprocess.Popen:
        self.start_signer()
        return self._spawn(name, [PYTHON, "manage.py", "qcluster"], self.env(**env_overrides))

    def start_clusters(self) -> None:
        for index in range(1, self.clusters + 1):
            self.start_cluster(f"worker{index}")

    def cluster_pids(self, name: str) -> list[int]:
        """Every process of one qcluster (sentinel, pusher, workers, monitor)."""
        pgid = self.processes[name].pid
        out = subprocess.run(["ps", "-o", "pid=", "-g", str(pgid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def stop(self, *names: str, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        """Stop processes (all given at once). SIGTERM goes to each leader, which stops its own children
        (gunicorn's arbiter, qcluster's sentinel); SIGKILL goes to the whole group, as a crash would."""
        victims = [p for p in (self.processes.pop(n, None) for n in names) if p is not None]
        for process in victims:
            with contextlib.suppress(ProcessLookupError):
                if sig == signal.SIGKILL:
                    os.killpg(process.pid, sig)
                else:
                    os.kill(process.pid, sig)
        deadline = time.monotonic() + timeout
        for process in victims:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            # Whatever the leader left behind (or everything, when it did not stop in time) is killed.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            group_gone = time.monotonic() + 10
            while time.monotonic() < group_gone:
                try:
                    os.killpg(process.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)

    def stop_all(self) -> None:
        self.stop(*list(self.processes))

    def wait_http(self, url: str, *, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(url, timeout=2).status_code < 500:
                    return
            except requests.RequestException:
                pass
            dead = [n for n, p in self.processes.items() if p.poll() is not None]
            if dead:
                raise StackError(f"{', '.join(dead)} exited; see {self.var_dir / 'logs'}")
            time.sleep(0.2)
        raise StackError(f"{url} did not answer within {timeout:.0f} s")

    def api_tokens(self, usernames: list[str]) -> dict[str, str]:
        code = (
            "import json; from accounts.services import api_token_create; from accounts.models import User\n"
            f"print(json.dumps({{u: api_token_create(user=User.objects.get(username=u), name='bench')[1] "
            f"for u in {usernames!r}}}))"
        )
        return json.loads(self.shell(code).strip().splitlines()[-1])

    def static_otps(self, usernames: list[str], count: int) -> dict[str, list[str]]:
        """`count` single-use MFA codes per user, made in bulk (the scripted form of addstatictoken)."""
        codes = {u: [secrets.token_hex(6) for _ in range(count)] for u in usernames}
        code = (
            "import json, sys\n"
            "from django_otp.plugins.otp_static.models import StaticDevice, StaticToken\n"
            "from accounts.models import User\n"
            f"codes = json.loads({json.dumps(json.dumps(codes))})\n"
            "for username, tokens in codes.items():\n"
            "    user = User.objects.get(username=username)\n"
            "    device, _ = StaticDevice.objects.get_or_create(user=user, name='bench', "
            "defaults={'confirmed': True})\n"
            # One by one: saving a token seals it for the signer (bulk_create would bypass that).
            "    for t in tokens: StaticToken.objects.create(device=device, token=t)\n"
        )
        self.shell(code)
        return codes

    def template_level(self, *, code: str = "memo-2-tier", level: str) -> None:
        self.shell(
            "from workflows.models import WorkflowTemplate\n"
            f"WorkflowTemplate.objects.filter(code={code!r}).update(pades_level={level!r})"
        )

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.var_dir / "logs" / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
