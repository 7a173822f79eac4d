"""Subprocess entry point for PDF verification: `python -m signing.verify_worker`.

Reads one JSON request on stdin (`{"pdf": base64, "trust_roots": [base64 DER], "lang": "en"}`, with an
optional `"password"` for an encrypted file), or
a batch (`{"batch": [request, ...]}`), and writes one JSON answer on stdout: `{"report": {...}}`,
`{"unreadable": "reason"}` (`"encrypted"` for a locked file) or `{"error": code, "detail": ...}`.
A batch answers `{"batch": [answer, ...]}`. The process limits its own address space and CPU time
before it touches the input, so a hostile PDF can only kill this process.

Never imports Django: it only needs the trust roots it is given.
"""

import argparse
import base64
import json
import resource
import sys

__all__ = ["answer_request", "main"]


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

    from signing.verification import UnreadablePDF, analyse_pdf

    try:
        data = base64.b64decode(request["pdf"])
        roots = [x509.Certificate.load(base64.b64decode(der)) for der in request["trust_roots"]]
        for root in roots:
            root.native  # noqa: B018 - reject a malformed root here, not mid-validation
        lang = str(request.get("lang", "en"))
        password = request.get("password")
        password = str(password) if password is not None else None
    except Exception as exc:  # noqa: BLE001 - any bad request is answered, never a traceback
        return {"error": "internal_error", "detail": f"bad request: {type(exc).__name__}"}
    try:
        return {"report": analyse_pdf(data=data, trust_roots=roots, lang=lang, password=password)}
    except UnreadablePDF as exc:
        from signing.verification import EncryptedPDF

        return {"unreadable": "encrypted" if isinstance(exc, EncryptedPDF) else str(exc)}
    except (MemoryError, RecursionError):
        return {"error": "too_complex"}
    except Exception as exc:  # noqa: BLE001 - the safety net: a verifier bug is "indeterminate"
        return {"error": "internal_error", "detail": f"{type(exc).__name__}: {str(exc)[:200]}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m signing.verify_worker")
    parser.add_argument("--memory-limit", type=int, default=1 << 30)
    parser.add_argument("--cpu-limit", type=int, default=30)
    args = parser.parse_args(argv)
    _limit_resources(memory_limit_bytes=args.memory_limit, cpu_limit_s=args.cpu_limit)

    # pyHanko logs warnings about odd files; stdout carries only the JSON answer
    import logging

    logging.disable(logging.CRITICAL)
    try:
        request = json.loads(sys.stdin.buffer.read())
    except (ValueError, MemoryError):
        answer: dict = {"error": "internal_error", "detail": "unreadable request"}
    else:
        if isinstance(request, dict) and isinstance(request.get("batch"), list):
            answer = {"batch": [answer_request(request=item) for item in request["batch"]]}
        else:
            answer = answer_request(request=request)
    sys.stdout.buffer.write(json.dumps(answer, ensure_ascii=False).encode("utf-8"))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
