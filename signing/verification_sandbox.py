"""The process boundary of PDF verification: one warm zygote per client process, one limited child per request.

Each process that verifies keeps one warm "zygote" (`python -m signing.verify_worker --zygote`, started
on first use, or by `verifier_warm_up`, and again if it died; a forked gunicorn or qcluster worker
starts its own) that has already imported pyHanko; per request it forks a child that sets its own
address-space and CPU limits, verifies and exits, and the caller enforces a wall-clock deadline (the
zygote kills the child when the caller gives up). So hostile files (decompression bombs, reference
loops, deep nesting) cost at most one killed child, and a verification costs a fork instead of a
Python start and the pyHanko import. Anything that goes wrong in the child becomes an indeterminate
report, never an exception; only a file that is not a PDF at all raises `UnreadablePDF`, and an
encrypted one `EncryptedPDF` (a subclass, so callers that map `UnreadablePDF` to "exit 2" need nothing more).

Admission (`verification_slot`): at most `VERIFY_MAX_CONCURRENT` verifications run at once in this
deployment and `VERIFY_MAX_CONCURRENT_PER_USER` per user, counted in Redis across every web and worker
process (a slot left behind by a killed process expires after its deadline); over the limit the caller
gets `VerifierBusy` (the API answers 429).
"""

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from signing.messages import problem_text
from signing.verify_worker import CHILD_EXIT_MEMORY

__all__ = [
    "VerifierBusy",
    "verification_slot",
    "EncryptedPDF",
    "UnreadablePDF",
    "indeterminate_report",
    "outcome_to_report",
    "run_worker",
    "verifier_last_peak_rss_bytes",
    "verifier_warm_up",
]

REPO_ROOT = Path(__file__).resolve().parents[1]


class UnreadablePDF(Exception):
    """The input cannot be read as a PDF at all (no header, no parsable cross-reference data)."""


class EncryptedPDF(UnreadablePDF):
    """The PDF is encrypted and cannot be opened without a password."""


class _Zygote:
    __slots__ = ("control", "process")

    def __init__(self, *, control: socket.socket, process: subprocess.Popen):
        self.control = control
        self.process = process


_zygote: _Zygote | None = None
_zygote_lock = threading.Lock()
CONTROL_SEND_TIMEOUT_S = 10


def _zygote_start() -> _Zygote:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "signing.verify_worker", "--zygote", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=REPO_ROOT,
            env=env,
            # not in our process group: a Ctrl-C or a group kill aimed at us reaches it through its socket
            start_new_session=True,
        )
    except OSError:
        ours.close()
        raise
    finally:
        theirs.close()
    # a zygote that stops reading (it never should) must not hang us: we restart it instead
    ours.settimeout(CONTROL_SEND_TIMEOUT_S)
    return _Zygote(control=ours, process=process)


def _zygote_stop(zygote: _Zygote) -> None:
    zygote.control.close()  # the zygote exits (killing its children) when it sees its socket close
    if zygote.process.poll() is None:
        zygote.process.kill()
        zygote.process.wait()


def _forget_zygote_after_fork() -> None:
    """In a forked child (gunicorn, qcluster): the parent's zygote is not ours; start our own when needed."""
    global _zygote, _zygote_lock
    _zygote_lock = threading.Lock()
    if _zygote is not None:
        _zygote.control.close()
        _zygote.process.returncode = 0  # not our child: never to be waited for from here
        _zygote = None


os.register_at_fork(after_in_child=_forget_zygote_after_fork)


def _dispatch(*, header: bytes, fds: list[int]) -> None:
    """Hand one request to the zygote, starting it (again) if it is not running. Raises OSError."""
    global _zygote
    for attempt in (1, 2):
        with _zygote_lock:
            if _zygote is not None and _zygote.process.poll() is not None:
                _zygote_stop(_zygote)
                _zygote = None
            if _zygote is None:
                _zygote = _zygote_start()
            zygote = _zygote
            try:
                socket.send_fds(zygote.control, [header], fds)
                return
            except OSError:
                # it died between the poll and the send, or stopped reading: a new one, once
                _zygote_stop(zygote)
                _zygote = None
                if attempt == 2:
                    raise


def verifier_warm_up() -> None:
    """Start this process's zygote now (e.g. in a gunicorn `post_fork` hook) rather than on first use."""
    global _zygote
    with _zygote_lock:
        if _zygote is None or _zygote.process.poll() is not None:
            if _zygote is not None:
                _zygote_stop(_zygote)
            _zygote = _zygote_start()


_last_child = threading.local()


def verifier_last_peak_rss_bytes() -> int | None:
    """Peak resident memory of the child that served this thread's last verification (None: unknown)."""
    return getattr(_last_child, "peak_rss_bytes", None)


def _stop_at_exit() -> None:
    # waiting for the zygote (which waits for its children) keeps no orphan behind and lets
    # RUSAGE_CHILDREN of whoever waits for us account for the verifier's memory
    global _zygote
    if _zygote is not None:
        zygote, _zygote = _zygote, None
        zygote.control.close()
        try:
            zygote.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            zygote.process.kill()
            zygote.process.wait()


atexit.register(_stop_at_exit)


def run_worker(*, payload: bytes, timeout_s: float, memory_limit_bytes: int, lang: str) -> dict:
    """Run `payload` in a limited child of the zygote; its decoded JSON answer, or an `{"error": code}`."""
    _last_child.peak_rss_bytes = None
    deadline = time.monotonic() + timeout_s
    header = json.dumps(
        {"memory_limit": int(memory_limit_bytes), "cpu_limit": max(1, int(timeout_s)), "wall_limit": timeout_s}
    ).encode("ascii")
    io_ours, io_theirs = socket.socketpair()
    status_ours, status_theirs = socket.socketpair()
    try:
        try:
            _dispatch(header=header, fds=[io_theirs.fileno(), status_theirs.fileno()])
        except OSError as exc:
            return {"error": "internal_error", "detail": f"cannot start the verifier: {exc}"}
        finally:
            io_theirs.close()
            status_theirs.close()
        try:
            answer = _exchange(channel=io_ours, payload=payload, deadline=deadline)
            # the child has closed its socket, so it is exiting: its status follows at once
            status = _read_to_end(channel=status_ours, deadline=max(deadline, time.monotonic() + 5))
        except TimeoutError:
            return {"error": "timeout"}
    finally:
        # closing the status socket before the child is done tells the zygote to kill it
        io_ours.close()
        status_ours.close()
    return _outcome(answer=answer, status=status)


def _exchange(*, channel: socket.socket, payload: bytes, deadline: float) -> bytes:
    try:
        channel.settimeout(_remaining(deadline))
        channel.sendall(payload)
        channel.shutdown(socket.SHUT_WR)
    except TimeoutError:
        raise
    except OSError:
        return b""  # the child died before reading it all: its exit status says why
    try:
        return _read_to_end(channel=channel, deadline=deadline)
    except TimeoutError:
        raise
    except OSError:
        return b""


def _read_to_end(*, channel: socket.socket, deadline: float) -> bytes:
    chunks = []
    while True:
        channel.settimeout(_remaining(deadline))
        chunk = channel.recv(1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _outcome(*, answer: bytes, status: bytes) -> dict:
    words = status.decode("ascii", "replace").split()
    exited = len(words) == 3 and words[0] == "exit" and words[1].lstrip("-").isdigit() and words[2].isdigit()
    _last_child.peak_rss_bytes = int(words[2]) * 1024 if exited else None
    if answer:
        try:
            decoded = json.loads(answer)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            return decoded
    if exited:
        return _crash_outcome(returncode=int(words[1]))
    if words == ["fork-failed"]:
        return {"error": "internal_error", "detail": "the verifier could not start a process"}
    return {"error": "internal_error", "detail": "the verifier stopped unexpectedly"}


def _crash_outcome(*, returncode: int) -> dict:
    # SIGXCPU / SIGKILL come from the CPU limit or the zygote's wall-clock kill
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return {"error": "timeout"}
    # MemoryError under the address-space limit, or a C library that could not allocate
    if returncode in (CHILD_EXIT_MEMORY, -signal.SIGSEGV, -signal.SIGABRT):
        return {"error": "too_complex"}
    return {"error": "internal_error", "detail": f"verifier exited with status {returncode}"}


def outcome_to_report(*, outcome: dict, lang: str) -> dict:
    """Turn the worker's answer into a report, or raise UnreadablePDF / EncryptedPDF."""
    if "report" in outcome and isinstance(outcome["report"], dict):
        return outcome["report"]
    if outcome.get("unreadable") == "encrypted":
        raise EncryptedPDF(problem_text(code="encrypted", lang=lang))
    if "unreadable" in outcome:
        raise UnreadablePDF(problem_text(code="unreadable", lang=lang, detail=str(outcome["unreadable"])))
    code = outcome.get("error", "internal_error")
    if code not in ("timeout", "too_complex", "internal_error"):
        code = "internal_error"
    return indeterminate_report(code=code, detail=str(outcome.get("detail", "")), lang=lang)


def indeterminate_report(*, code: str, detail: str = "", lang: str = "en") -> dict:
    """A report for a document we could not judge at all."""
    return {
        "valid": False,
        "status": "indeterminate",
        "signatures": [],
        "document_timestamps": [],
        "problems": [problem_text(code=code, lang=lang, detail=detail)],
        "problem_codes": [code],
    }


# ---------------------------------------------------------------------------------------------
# Admission: how many verifications may run at once
# ---------------------------------------------------------------------------------------------


class VerifierBusy(Exception):
    """Too many verifications are running (in total, or for this user); try again shortly."""

    def __init__(self, *, scope: str):
        super().__init__(scope)
        self.scope = scope  # "user" or "total"


_local_lock = threading.Lock()
_local_running: dict[str, int] = {}

# KEYS: total set, user set; ARGV: member, now, expires_at, total limit, user limit
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 2 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('EXPIRE', KEYS[1], 3600)
redis.call('EXPIRE', KEYS[2], 3600)
return 0
"""


@contextmanager
def verification_slot(*, user_key: str, hold_s: float = 60):
    """Hold one of the deployment's verification slots (and one of `user_key`'s) while the block runs.

    Limits from settings `VERIFY_MAX_CONCURRENT` (total) and `VERIFY_MAX_CONCURRENT_PER_USER`. With
    `REDIS_URL` set the slots are counted in Redis for every process of the deployment (a slot whose
    holder died is free again after `hold_s`); without it, in this process. Raises `VerifierBusy`.
    """
    from django.conf import settings

    total = int(getattr(settings, "VERIFY_MAX_CONCURRENT", 4))
    per_user = int(getattr(settings, "VERIFY_MAX_CONCURRENT_PER_USER", 2))
    redis_url = getattr(settings, "REDIS_URL", "")
    if redis_url:
        with _redis_slot(url=redis_url, user_key=user_key, total=total, per_user=per_user, hold_s=hold_s):
            yield
        return
    with _local_lock:
        if _local_running.get(user_key, 0) >= per_user:
            raise VerifierBusy(scope="user")
        if _local_running.get("", 0) >= total:
            raise VerifierBusy(scope="total")
        _local_running[user_key] = _local_running.get(user_key, 0) + 1
        _local_running[""] = _local_running.get("", 0) + 1
    try:
        yield
    finally:
        with _local_lock:
            for key in (user_key, ""):
                _local_running[key] -= 1


_redis_clients: dict[str, object] = {}


@contextmanager
def _redis_slot(*, url: str, user_key: str, total: int, per_user: int, hold_s: float):
    import redis

    client = _redis_clients.get(url)
    if client is None:
        client = _redis_clients[url] = redis.Redis.from_url(url, socket_timeout=2)
    keys = ["dsign:verify:slots", f"dsign:verify:slots:{user_key}"]
    member = uuid.uuid4().hex
    now = time.time()
    try:
        answer = client.eval(_ACQUIRE, 2, *keys, member, now, now + hold_s, total, per_user)
    except redis.RedisError:
        answer = 0  # Redis down: verification still works, limited by the sandbox alone
        keys = []
    if answer == 1:
        raise VerifierBusy(scope="user")
    if answer == 2:
        raise VerifierBusy(scope="total")
    try:
        yield
    finally:
        for key in keys:
            try:
                client.zrem(key, member)
            except redis.RedisError:
                pass  # expires by its score
