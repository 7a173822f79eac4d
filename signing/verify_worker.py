"""The isolated side of PDF verification: a warm "zygote" process that forks one limited child per request.

`python -m signing.verify_worker --zygote FD` imports pyHanko and the verifier once (everything a
verification uses, see `signing.verification.warm_up`), then waits on FD (an AF_UNIX SOCK_SEQPACKET
socket shared with one client process, `signing.verification`). Each request is one control message:
a JSON header `{"memory_limit": bytes, "cpu_limit": s, "wall_limit": s}` carrying two file
descriptors, an I/O socket and a status socket. The zygote forks a child that

- closes every other descriptor, sets RLIMIT_AS / RLIMIT_CPU / RLIMIT_FSIZE / RLIMIT_CORE, lowers its
  priority (nice 10) and asks to be killed if the zygote dies (so a hostile PDF can only kill this one
  child and never starves the web processes of CPU),
- reads one JSON request from the I/O socket until EOF (`{"pdf": base64, "trust_roots": [base64 DER],
  "lang": "en"}`, optional `"password"` and
  `"revocations"` (dsign's own, see `verification.revocations_encode`); or `{"batch": [request, ...]}`),
- writes one JSON answer to it (`{"report": {...}}`, `{"unreadable": "reason"}` (`"encrypted"` for a
  locked file), `{"error": code, "detail": ...}`; a batch answers `{"batch": [answer, ...]}`) and exits.

When the child is gone the zygote writes `exit <returncode> <peak RSS in KiB>\\n` (negative
returncode: killed by that signal) to the status socket and closes it. If the client hangs up the
status socket first (its deadline passed), or the child outlives `wall_limit`, the zygote kills the
child. When the control socket closes (the client process exited), the zygote kills and reaps its
children and exits.

Without `--zygote` the module answers one request from stdin on stdout under the same limits (a
debugging aid; the service always uses the zygote).

Never imports Django: it only needs the trust roots it is given.
"""

import argparse
import base64
import ctypes
import json
import os
import resource
import select
import signal
import socket
import sys
import time

__all__ = ["answer_request", "main", "serve_zygote"]

CHILD_EXIT_OK = 0
CHILD_EXIT_INTERNAL = 70
CHILD_EXIT_MEMORY = 71
PR_SET_PDEATHSIG = 1
WALL_GRACE_S = 2.0
CHILD_NICENESS = 10


def _limit_resources(*, memory_limit_bytes: int, cpu_limit_s: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
    # soft limit sends SIGXCPU, the hard limit one second later SIGKILL
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_limit_s, cpu_limit_s + 1))
    # the verifier never writes files or needs many descriptors
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def answer_request(*, request: dict) -> dict:
    """Verify one request; every failure becomes an answer, never an exception."""
    from asn1crypto import x509

    from signing.verification import EncryptedPDF, UnreadablePDF, analyse_pdf, revocations_decode

    try:
        data = base64.b64decode(request["pdf"])
        roots = [x509.Certificate.load(base64.b64decode(der)) for der in request["trust_roots"]]
        for root in roots:
            root.native  # noqa: B018 - reject a malformed root here, not mid-validation
        lang = str(request.get("lang", "en"))
        password = request.get("password")
        password = str(password) if password is not None else None
        revocations = revocations_decode(request.get("revocations") or [])
    except Exception as exc:  # noqa: BLE001 - any bad request is answered, never a traceback
        return {"error": "internal_error", "detail": f"bad request: {type(exc).__name__}"}
    try:
        report = analyse_pdf(data=data, trust_roots=roots, lang=lang, password=password, revocations=revocations)
        return {"report": report}
    except UnreadablePDF as exc:
        return {"unreadable": "encrypted" if isinstance(exc, EncryptedPDF) else str(exc)}
    except (MemoryError, RecursionError):
        return {"error": "too_complex"}
    except Exception as exc:  # noqa: BLE001 - the safety net: a verifier bug is "indeterminate"
        return {"error": "internal_error", "detail": f"{type(exc).__name__}: {str(exc)[:200]}"}


def _answer_bytes(*, raw: bytes) -> bytes:
    try:
        request = json.loads(raw)
    except (ValueError, MemoryError):
        answer: dict = {"error": "internal_error", "detail": "unreadable request"}
    else:
        if isinstance(request, dict) and isinstance(request.get("batch"), list):
            answer = {"batch": [answer_request(request=item) for item in request["batch"]]}
        elif isinstance(request, dict):
            answer = answer_request(request=request)
        else:
            answer = {"error": "internal_error", "detail": "unreadable request"}
    return json.dumps(answer, ensure_ascii=False).encode("utf-8")


# ---------------------------------------------------------------------------------------------
# The zygote
# ---------------------------------------------------------------------------------------------


def _prepare() -> None:
    """Import everything a verification needs, so each forked child starts warm."""
    import gc
    import logging

    # pyHanko logs warnings about odd files; nobody reads the zygote's output
    logging.disable(logging.CRITICAL)
    import signing.verification as verification

    verification.warm_up()
    # objects alive now are shared with every child: keep the collector from touching (copying) them
    gc.collect()
    gc.freeze()


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the client's deadline and the zygote's kill still apply


def _run_child(*, io_fd: int, header: dict) -> None:
    """In the forked child: limit ourselves, answer one request on `io_fd`, exit. Never returns."""
    code = CHILD_EXIT_INTERNAL
    try:
        for number in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
            signal.signal(number, signal.SIG_DFL)
        _die_with_parent()
        # the zygote's control socket and other requests' sockets are none of this child's business
        os.closerange(3, io_fd)
        os.closerange(io_fd + 1, 65536)
        _limit_resources(
            memory_limit_bytes=int(header["memory_limit"]),
            cpu_limit_s=max(1, int(header["cpu_limit"])),
        )
        # a verification yields the CPU to the web and signing processes that share the machine
        os.nice(CHILD_NICENESS)
        channel = socket.socket(fileno=io_fd)
        chunks = []
        while True:
            chunk = channel.recv(1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        channel.sendall(_answer_bytes(raw=b"".join(chunks)))
        code = CHILD_EXIT_OK
    except MemoryError:
        code = CHILD_EXIT_MEMORY
    except BaseException:  # noqa: BLE001 - the exit status says it; the child must never return
        code = CHILD_EXIT_INTERNAL
    finally:
        os._exit(code)


class _Child:
    __slots__ = ("pid", "pidfd", "status_fd", "deadline", "hung_up")

    def __init__(self, *, pid: int, pidfd: int, status_fd: int, deadline: float):
        self.pid = pid
        self.pidfd = pidfd
        self.status_fd = status_fd
        self.deadline = deadline
        self.hung_up = False


def _kill(child: _Child) -> None:
    try:
        os.kill(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _receive(control: socket.socket) -> tuple[bytes, list[int]] | None:
    """One control message and its descriptors; None when the client is gone."""
    try:
        message, fds, _flags, _address = socket.recv_fds(control, 4096, 4)
    except InterruptedError:
        return b"", []
    except OSError:
        return None
    if not message and not fds:
        return None
    return message, fds


def _spawn(*, message: bytes, fds: list[int]) -> _Child | None:
    if len(fds) != 2:
        for fd in fds:
            os.close(fd)
        return None
    io_fd, status_fd = fds
    try:
        header = json.loads(message)
        wall_limit = float(header["wall_limit"])
        int(header["memory_limit"]), int(header["cpu_limit"])
    except (ValueError, KeyError, TypeError):
        os.close(io_fd)
        os.close(status_fd)
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(io_fd)
        _report(status_fd=status_fd, line="fork-failed")
        return None
    if pid == 0:
        _run_child(io_fd=io_fd, header=header)
    os.close(io_fd)
    try:
        pidfd = os.pidfd_open(pid)
    except (OSError, AttributeError):
        pidfd = -1  # old kernel: the periodic reaping below still finds the child
    return _Child(pid=pid, pidfd=pidfd, status_fd=status_fd, deadline=time.monotonic() + wall_limit + WALL_GRACE_S)


def _report(*, status_fd: int, line: str) -> None:
    try:
        os.write(status_fd, (line + "\n").encode("ascii"))
    except OSError:
        pass  # the client has gone: nobody to tell
    os.close(status_fd)


def _reap(children: dict[int, _Child], *, block: bool = False) -> None:
    for pid in list(children):
        try:
            done, status, usage = os.wait4(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            done, status, usage = pid, 0, None
        if not done:
            continue
        child = children.pop(pid)
        if child.pidfd >= 0:
            os.close(child.pidfd)
        peak_kib = usage.ru_maxrss if usage is not None else 0
        _report(status_fd=child.status_fd, line=f"exit {os.waitstatus_to_exitcode(status)} {peak_kib}")


def serve_zygote(*, control: socket.socket) -> None:
    """Fork one limited child per request received on `control` until the client goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the client's Ctrl-C is the client's business
    children: dict[int, _Child] = {}
    while True:
        poller = select.poll()
        poller.register(control, select.POLLIN)
        for child in children.values():
            if child.pidfd >= 0:
                poller.register(child.pidfd, select.POLLIN)
            if not child.hung_up:
                poller.register(child.status_fd, select.POLLIN)
        timeout_ms = 1000 if children else None
        if any(child.pidfd < 0 for child in children.values()):
            timeout_ms = 20
        try:
            readable = {fd for fd, _event in poller.poll(timeout_ms)}
        except InterruptedError:
            readable = set()
        if control.fileno() in readable:
            received = _receive(control)
            if received is None:
                # our client is gone; reaping the children adds their usage to ours for whoever waits for us
                for child in children.values():
                    _kill(child)
                _reap(children, block=True)
                return
            if received[1]:
                child = _spawn(message=received[0], fds=received[1])
                if child is not None:
                    children[child.pid] = child
        now = time.monotonic()
        for child in children.values():
            if child.status_fd in readable and not child.hung_up:
                # the client sends nothing on this socket: readable means it hung up (deadline passed)
                child.hung_up = True
                _kill(child)
            elif now > child.deadline:
                _kill(child)
        _reap(children)


def _one_shot(*, memory_limit_bytes: int, cpu_limit_s: int) -> int:
    import logging

    _limit_resources(memory_limit_bytes=memory_limit_bytes, cpu_limit_s=cpu_limit_s)
    logging.disable(logging.CRITICAL)
    from signing.verification_patches import install_fast_paths

    install_fast_paths()
    sys.stdout.buffer.write(_answer_bytes(raw=sys.stdin.buffer.read()))
    sys.stdout.buffer.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m signing.verify_worker")
    parser.add_argument("--zygote", type=int, metavar="FD", help="serve requests on this inherited socket")
    parser.add_argument("--memory-limit", type=int, default=1 << 30)
    parser.add_argument("--cpu-limit", type=int, default=30)
    args = parser.parse_args(argv)
    if args.zygote is None:
        return _one_shot(memory_limit_bytes=args.memory_limit, cpu_limit_s=args.cpu_limit)
    control = socket.socket(fileno=args.zygote)
    _prepare()
    serve_zygote(control=control)
    return 0


if __name__ == "__main__":
    sys.exit(main())
