"""The client of the signer: the one component that holds the users' token PIN (signing/activation.py).

Requests are JSON objects sent over a local Unix socket, each framed by a 4-byte big-endian length,
one request per connection. A process that holds the users' PIN itself (the test suite, an
administrator's shell) registers the signer in-process with ``use_local``; the request still goes
through the same JSON round trip and the same checks.
"""

from __future__ import annotations

import base64
import json
import socket
import struct
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "SignerError",
    "SignerUnavailable",
    "b64decode",
    "b64encode",
    "call",
    "configure",
    "read_frame",
    "use_local",
    "write_frame",
]

MAX_FRAME = 256 * 1024 * 1024


def b64encode(data: bytes) -> str:
    """Bytes in a request: URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SignerError(Exception):
    """The signer refused; ``code`` says why (activation_missing, activation_expired, wrong_code…)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class SignerUnavailable(SignerError):
    """The signer cannot be reached or its HSM is down: retry later."""


_socket_path: Path | None = None
_timeout = 60.0
_local: Callable[[dict], dict] | None = None


def configure(*, socket_path: Path, timeout: float) -> None:
    global _socket_path, _timeout
    _socket_path, _timeout = Path(socket_path), timeout


def use_local(handler: Callable[[dict], dict] | None) -> None:
    """Run the signer in this process (it holds the users' PIN); None goes back to the socket."""
    global _local
    _local = handler


def read_frame(sock: socket.socket) -> bytes:
    header = _read_exactly(sock, 4)
    (length,) = struct.unpack(">I", header)
    if length > MAX_FRAME:
        raise ValueError("frame too large")
    return _read_exactly(sock, length)


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    chunks, remaining = [], count
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise ConnectionError("connection closed mid-frame")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def write_frame(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(struct.pack(">I", len(payload)) + payload)


def call(op: str, **arguments) -> dict:
    """Send one request; the answer without its ``ok`` flag, or SignerError / SignerUnavailable."""
    request = json.dumps({"op": op, **arguments}).encode()
    if _local is not None:
        answer = json.loads(json.dumps(_local(json.loads(request))))
    else:
        answer = _remote(request)
    if not answer.get("ok"):
        code = answer.get("code", "error")
        error = SignerUnavailable if code in ("hsm_unavailable", "signer_unavailable") else SignerError
        raise error(code, answer.get("message", "refused by the signer"))
    answer.pop("ok")
    return answer


def _remote(request: bytes) -> dict:
    if _socket_path is None:
        raise SignerUnavailable("signer_unavailable", "the signer is not configured in this process")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(_timeout)
            sock.connect(str(_socket_path))
            write_frame(sock, request)
            return json.loads(read_frame(sock))
    except (OSError, ConnectionError, ValueError) as exc:
        raise SignerUnavailable("signer_unavailable", f"the signer at {_socket_path} cannot be reached: {exc}") from exc
