"""PostgreSQL and Redis for `make test`: the configured ones when they answer, otherwise throwaway ones.

    python -m tests.support.services up     prints `export NAME=value` lines for the shell (eval them)
    python -m tests.support.services down   stops what `up` started (the state directory named by
                                            DSIGN_TEST_SERVICES_DIR) and removes its files

PostgreSQL: TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/dsign) is used when it
answers. When nothing listens there, or the default is refused (Debian's stock server wants a
password), a throwaway cluster is made with initdb in a temporary directory, trust authentication
on a free loopback port, run as an unprivileged user when we are root (initdb refuses root). An
explicitly set TEST_POSTGRES_URL whose server refuses us is an error: the operator meant that server.

Redis: TEST_REDIS_URL (default redis://127.0.0.1:6379) likewise; a throwaway redis-server otherwise.
The fault and topology tests take their own database numbers on it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/dsign"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"


class ServiceError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_admin_url(url: str) -> str:
    """The server part of a database URL (no database name): what the fault tests create databases on."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="", query="", fragment=""))


def postgres_probe(url: str) -> str | None:
    """None when we can connect; "unreachable" when nothing answers; otherwise the server's refusal."""
    import psycopg

    parts = urllib.parse.urlsplit(url)
    try:
        psycopg.connect(urllib.parse.urlunsplit(parts._replace(path="/postgres")), connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        text = str(exc)
        if any(s in text for s in ("Connection refused", "timeout expired", "No route", "could not translate")):
            return "unreachable"
        return text.strip().splitlines()[-1] if text.strip() else "refused"
    return None


def redis_probe(url: str) -> bool:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError:
        return False
    return True


def _pg_bin(name: str) -> str:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    found = candidates[-1] if candidates else shutil.which(name)
    if not found:
        raise ServiceError(f"{name} not found: install the PostgreSQL server (apt-get install postgresql)")
    return found


def _unprivileged_user() -> str | None:
    """initdb and postgres refuse to run as root; the postgres account (or nobody) runs the cluster."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise ServiceError("running as root and no unprivileged account (postgres, nobody) to run PostgreSQL")


def _run(argv: list[str], *, user: str | None = None, cwd: str | None = None) -> None:
    kwargs = {}
    if user:
        entry = pwd.getpwnam(user)
        kwargs = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    result = subprocess.run(argv, capture_output=True, text=True, cwd=cwd or "/", **kwargs)
    if result.returncode != 0:
        raise ServiceError(f"{' '.join(argv[:2])} failed: {(result.stderr or result.stdout).strip()[-500:]}")


def postgres_start(state: Path) -> str:
    """initdb + pg_ctl start in state/pg on a free loopback port; returns the admin URL."""
    user = _unprivileged_user()
    data = state / "pg"
    data.mkdir()
    if user:
        entry = pwd.getpwnam(user)
        os.chown(data, entry.pw_uid, entry.pw_gid)
    data.chmod(0o700)
    _run([_pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"], user=user)
    port = free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c max_connections=200 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    _run([_pg_bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(data / "server.log"), "-w", "start"], user=user)
    return f"postgres://postgres@127.0.0.1:{port}"


def postgres_stop(state: Path) -> None:
    data = state / "pg"
    if (data / "postmaster.pid").exists():
        _run([_pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], user=_unprivileged_user())


def redis_start(state: Path) -> str:
    server = shutil.which("redis-server")
    if not server:
        raise ServiceError("redis-server not found: install it (apt-get install redis-server)")
    port = free_port()
    directory = state / "redis"
    directory.mkdir()
    argv = [server, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory), "--save", ""]
    argv += ["--appendonly", "no", "--daemonize", "yes", "--pidfile", str(directory / "redis.pid")]
    argv += ["--logfile", str(directory / "redis.log")]
    _run(argv)
    url = f"redis://127.0.0.1:{port}"
    for _ in range(100):
        if redis_probe(url):
            return url
        time.sleep(0.1)
    raise ServiceError(f"the throwaway redis-server did not answer on port {port}")


def redis_stop(state: Path) -> None:
    pidfile = state / "redis" / "redis.pid"
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text().strip())
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


def up() -> dict[str, str]:
    """The environment the test phases need; starts what is missing (and names its state directory)."""
    env: dict[str, str] = {}
    state: Path | None = None

    def state_dir() -> Path:
        nonlocal state
        if state is None:
            state = Path(tempfile.mkdtemp(prefix="dsign-test-services-"))
            state.chmod(0o755)  # the unprivileged PostgreSQL account must reach its data directory
            env["DSIGN_TEST_SERVICES_DIR"] = str(state)
        return state

    explicit = "TEST_POSTGRES_URL" in os.environ
    pg_url = os.environ.get("TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    problem = postgres_probe(pg_url)
    try:
        if problem is None:
            note = f"PostgreSQL: {postgres_admin_url(pg_url)}"
        elif explicit and problem != "unreachable":
            raise ServiceError(f"TEST_POSTGRES_URL {postgres_admin_url(pg_url)} refused the connection: {problem}")
        else:
            admin = postgres_start(state_dir())
            note = f"PostgreSQL: throwaway cluster on {admin} ({postgres_admin_url(pg_url)}: {problem})"
            pg_url = f"{admin}/{urllib.parse.urlsplit(pg_url).path.lstrip('/') or 'dsign'}"
        env["TEST_POSTGRES_URL"] = pg_url
        env["TEST_POSTGRES_ADMIN_URL"] = postgres_admin_url(pg_url)
        print(note, file=sys.stderr)

        redis_url = (os.environ.get("TEST_REDIS_URL") or DEFAULT_REDIS_URL).rstrip("/")
        if redis_probe(redis_url):
            print(f"Redis: {redis_url}", file=sys.stderr)
        else:
            original, redis_url = redis_url, redis_start(state_dir())
            print(f"Redis: throwaway redis-server on {redis_url} ({original} did not answer)", file=sys.stderr)
        env["TEST_REDIS_URL"] = redis_url
    except Exception:
        if state is not None:
            down(state)
        raise
    return env


def down(state: Path) -> None:
    for stop in (postgres_stop, redis_stop):
        try:
            stop(state)
        except ServiceError as exc:
            print(exc, file=sys.stderr)
    shutil.rmtree(state, ignore_errors=True)


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else ""
    try:
        if command == "up":
            for name, value in up().items():
                print(f"export {name}={shlex.quote(value)}")
            return 0
        if command == "down":
            state = os.environ.get("DSIGN_TEST_SERVICES_DIR")
            if state and Path(state).is_dir():
                down(Path(state))
            return 0
    except ServiceError as exc:
        print(exc, file=sys.stderr)
        return 1
    print("usage: python -m tests.support.services up|down", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
