"""Strict verification of signed PDFs: the verification report of DESIGN.md.

`verify_pdf_bytes` is the only entry point other apps should use. It never parses the PDF in the
calling process. Each process that verifies keeps one warm "zygote" (`python -m
signing.verify_worker --zygote`, started on first use, or by `verifier_warm_up`, and again if it
died; a forked gunicorn or qcluster worker starts its own) that has already imported pyHanko; per
request it forks a child that sets its own address-space and CPU limits, verifies and exits, and
the caller enforces a wall-clock deadline (the zygote kills the child when the caller gives up). So
hostile files (decompression bombs, reference loops, deep nesting) cost at most one killed child,
and a verification costs a fork instead of a Python start and the pyHanko import. Anything that
goes wrong in the child becomes an indeterminate report, never an exception; only a file that is
not a PDF at all raises `UnreadablePDF`, and an encrypted one `EncryptedPDF` (a subclass, so
callers that map `UnreadablePDF` to "exit 2" need nothing more).

`analyse_pdf` is the in-process analysis the child runs. The verdict rules are ours, not pyHanko's
`bottom_line`: a signature is valid only when it is intact, cryptographically valid, trusted, not
revoked, covers its whole revision, uses strong algorithms, is a PAdES baseline CMS, and is followed
by nothing but form filling or validation-data/timestamp updates. Revocation is judged only from data
embedded in the file (no network fetching).
"""

import asyncio
import atexit
import base64
import binascii
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from io import BytesIO
from pathlib import Path

from asn1crypto import crl, ocsp, x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.crypt import AuthStatus
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.misc import PdfDecodeLimitError, PdfError, get_and_apply
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESIndeterminate
from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import (
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko_certvalidator import ValidationContext

from signing.messages import problem_text
from signing.verify_worker import CHILD_EXIT_MEMORY

__all__ = [
    "EncryptedPDF",
    "UnreadablePDF",
    "analyse_pdf",
    "document_timestamp_level",
    "indeterminate_report",
    "install_fast_paths",
    "signature_level",
    "verifier_last_peak_rss_bytes",
    "verifier_warm_up",
    "verify_pdf_bytes",
    "warm_up",
]

REPO_ROOT = Path(__file__).resolve().parents[1]

COVERAGE_NAMES = {3: "entire_file", 2: "entire_revision"}
ACCEPTED_MODIFICATIONS = ("none", "form_filling")
# Problems that mean "we could not judge" rather than "we judged and it failed".
# What parsing hostile PDF/CMS data raises (pyHanko, asn1crypto): judged as a format failure.
# Anything else escapes to the worker, which turns it into an indeterminate report.
PARSE_ERRORS = (
    PdfError,
    ValueError,
    LookupError,
    TypeError,
    AttributeError,
    AssertionError,
    ArithmeticError,
    NotImplementedError,
)
# Told to the reader, but not a reason to call a signature invalid.
HARMLESS_NOTES = {"form_fields_changed", "attachments_added"}
INDETERMINATE_CODES = {"damaged_document", "format_failure", "modifications_unknown", "too_complex", "internal_error"}


class UnreadablePDF(Exception):
    """The input cannot be read as a PDF at all (no header, no parsable cross-reference data)."""


class EncryptedPDF(UnreadablePDF):
    """The PDF is encrypted and cannot be opened without a password."""


# ---------------------------------------------------------------------------------------------
# The process boundary: one warm zygote per client process, one forked, limited child per request
# ---------------------------------------------------------------------------------------------


def verify_pdf_bytes(
    *,
    data: bytes,
    trust_roots: list[x509.Certificate],
    lang: str = "en",
    timeout_s: float = 30,
    memory_limit_bytes: int = 1 << 30,
    password: str | None = None,
) -> dict:
    """Verify every signature in `data` against `trust_roots`; return the DESIGN.md report.

    `password` opens an encrypted PDF; for an encrypted copy made by `signing.encryption` the signed
    document inside it is verified (the report then says `"container": "encrypted_copy"`).
    Raises `UnreadablePDF` (or `EncryptedPDF`) only; every other failure is an indeterminate report.
    Thread-safe; concurrent calls run in parallel children of the same zygote.
    """
    request = {
        "pdf": base64.b64encode(data).decode("ascii"),
        "trust_roots": [base64.b64encode(root.dump()).decode("ascii") for root in trust_roots],
        "lang": lang,
    }
    if password:
        request["password"] = password
    outcome = run_worker(
        payload=json.dumps(request).encode("ascii"),
        timeout_s=timeout_s,
        memory_limit_bytes=memory_limit_bytes,
        lang=lang,
    )
    return outcome_to_report(outcome=outcome, lang=lang)


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
# Preparing the zygote (runs inside the worker)
# ---------------------------------------------------------------------------------------------

_PDF_WHITESPACE = b" \n\r\t\f\x00"
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_HEX_CHUNK = 1 << 16


def _read_hex_string_fast(stream):
    """pyHanko's hex-string reader, one slice at a time instead of one byte at a time.

    Same result and stream position as `generic.read_hex_string_from_stream` for strings made of
    hex digits and whitespace (signature /Contents: most of the parsing time of a signed PDF);
    anything else (a comment, a bad character, no closing `>`) goes to pyHanko's own reader.
    """
    start = stream.tell()
    stream.read(1)  # the opening "<"
    chunks = []
    while True:
        chunk = stream.read(_HEX_CHUNK)
        if not chunk:
            break
        end = chunk.find(b">")
        if end >= 0:
            chunks.append(chunk[:end])
            body = b"".join(chunks)
            digits = body.translate(None, _PDF_WHITESPACE)
            if digits.translate(None, _HEX_DIGITS):
                break
            stream.seek(start + 1 + len(body) + 1)
            if len(digits) % 2:
                digits += b"0"
            return generic.pdf_string(binascii.unhexlify(digits))
        chunks.append(chunk)
    stream.seek(start)
    return _ORIGINAL_HEX_READER(stream)


_ORIGINAL_HEX_READER = generic.read_hex_string_from_stream


_ORIGINAL_NAME_PREP = x509.NameTypeAndValue._ldap_string_prep


@functools.lru_cache(maxsize=4096)
def _name_prep_cached(value: str) -> str:
    return _ORIGINAL_NAME_PREP(None, value)


def _name_prep(self, value):
    # a pure function of the string (RFC 4518 preparation), yet recomputed for every parsed copy of a
    # name: each signature's CMS carries the same names, compared again and again while matching certificates
    if type(value) is str:
        return _name_prep_cached(value)
    return _ORIGINAL_NAME_PREP(self, value)


def install_fast_paths() -> None:
    """Speed-ups with unchanged results, for the verifier's processes (each child serves one request).

    pyHanko's hex-string reader is swapped for `_read_hex_string_fast`, and asn1crypto's name
    preparation is memoised per string.
    """
    generic.read_hex_string_from_stream = _read_hex_string_fast
    x509.NameTypeAndValue._ldap_string_prep = _name_prep


def warm_up() -> None:
    """Load everything a verification uses before the zygote forks, so no child pays for an import.

    A first analysis costs twice a later one mostly because of modules imported on first use (the
    archive diff rule pulls in pikepdf and lxml); a full throw-away verification gained nothing more.
    """
    import signing.archive
    import signing.encryption  # noqa: F401 - imported on first use by _encrypted_copy_payload

    install_fast_paths()
    signing.archive.archive_diff_policy()


# ---------------------------------------------------------------------------------------------
# In-process analysis (runs inside the worker)
# ---------------------------------------------------------------------------------------------


def analyse_pdf(
    *, data: bytes, trust_roots: list[x509.Certificate], lang: str = "en", password: str | None = None
) -> dict:
    """Verify `data` in this process. Raises UnreadablePDF; may raise MemoryError/RecursionError."""
    try:
        reader = open_reader(data=data, password=password)
        if reader.encrypted:
            inner = _encrypted_copy_payload(reader=reader)
            if inner is not None:
                report = analyse_pdf(data=inner, trust_roots=trust_roots, lang=lang)
                report["container"] = "encrypted_copy"
                return report
        return asyncio.run(_analyse(reader=reader, data=data, trust_roots=trust_roots, lang=lang))
    except PdfDecodeLimitError:
        # pyHanko's decompression-bomb guard: a real PDF, but not one we will inflate
        return indeterminate_report(code="too_complex", lang=lang)
    except PdfError as exc:
        # broken structure met while looking for signatures (loops, dangling objects)
        return indeterminate_report(code="damaged_document", detail=_short(exc), lang=lang)


def _encrypted_copy_payload(*, reader) -> bytes | None:
    """The signed PDF inside a `signing.encryption` wrapper (no signatures of its own), else None."""
    from signing.encryption import SIGNED_ATTACHMENT_NAME

    try:
        if str(reader.root["/Collection"]["/D"]) != SIGNED_ATTACHMENT_NAME or "/AcroForm" in reader.root:
            return None
        names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
        if len(names) != 2 or str(names[0]) != SIGNED_ATTACHMENT_NAME:
            return None
        return names[1]["/EF"]["/F"].data
    except PdfDecodeLimitError:
        raise
    except (KeyError, *PARSE_ERRORS):
        return None  # not our wrapper: judged as the document it is


def open_reader(*, data: bytes, password: str | None = None):
    if b"%PDF-" not in data[:1024]:
        raise UnreadablePDF("no PDF header")
    try:
        reader = PdfFileReader(BytesIO(data), strict=True)
    except PdfDecodeLimitError:
        raise
    except PARSE_ERRORS as exc:
        raise UnreadablePDF(_short(exc)) from exc
    try:
        encrypted = reader.encrypted
    except PdfDecodeLimitError:
        raise
    except PARSE_ERRORS as exc:
        raise UnreadablePDF(_short(exc)) from exc
    if encrypted:
        try:
            # a signed PDF may be encrypted with an empty user password; anything else is locked
            result = reader.decrypt((password or "").encode("utf-8"))
            if result.status == AuthStatus.FAILED:
                raise EncryptedPDF("encrypted")
        except PARSE_ERRORS as exc:
            raise EncryptedPDF("encrypted") from exc
    if reader.xrefs.hybrid_xrefs_present:
        # Word-style hybrid cross-references are common; pyHanko validates them only when lenient
        reader = PdfFileReader(BytesIO(data), strict=False)
        if encrypted:
            reader.decrypt((password or "").encode("utf-8"))
    try:
        reader.root  # noqa: B018 - touching the catalogue is the cheapest "is there a document" test
    except PdfDecodeLimitError:
        raise
    except PARSE_ERRORS as exc:
        raise UnreadablePDF(_short(exc)) from exc
    return reader


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


async def _analyse(*, reader, data: bytes, trust_roots: list[x509.Certificate], lang: str) -> dict:
    revinfo = _embedded_revinfo(reader=reader)
    signature_fields = {name for name, _, _ in enumerate_sig_fields(reader)}
    entries = []
    for fq_name, sig_obj, sig_field in enumerate_sig_fields(reader, filled_status=True):
        entries.append(_load_embedded(reader=reader, fq_name=fq_name, sig_obj=sig_obj, field=sig_field))
    entries.sort(key=lambda entry: entry["revision"])
    final_attachments = _attachment_names(root=reader.root)
    for entry in entries:
        if entry["revision"] >= 0:
            try:
                signed_root = reader.get_historical_resolver(entry["revision"]).root
            except PARSE_ERRORS:
                continue  # the signature's own check reports the broken revision
            entry["attachments_added"] = sorted(final_attachments - _attachment_names(root=signed_root))

    damage = _structure_damage(reader=reader)
    tail_junk = _has_trailing_data(data=data)
    signatures: list[dict] = []
    doc_timestamps: list[dict] = []
    for entry in entries:
        if entry["kind"] == "/DocTimeStamp":
            doc_timestamps.append(
                await _check_doc_timestamp(entry=entry, trust_roots=trust_roots, revinfo=revinfo, tail_junk=tail_junk)
            )
        else:
            signatures.append(
                await _check_signature(
                    entry=entry,
                    trust_roots=trust_roots,
                    revinfo=revinfo,
                    tail_junk=tail_junk,
                    signature_fields=signature_fields,
                )
            )

    for signature in signatures:
        signature["level"] = _level(signature=signature, doc_timestamps=doc_timestamps, revinfo=revinfo)
    return _assemble(signatures=signatures, doc_timestamps=doc_timestamps, damage=damage, lang=lang)


def _attachment_names(*, root) -> set[str]:
    """Names in a flat EmbeddedFiles tree (nested trees: none are added by an accepted update)."""
    try:
        tree = root["/Names"]["/EmbeddedFiles"]
        values = tree["/Names"] if "/Names" in tree else generic.ArrayObject()
        return {str(values[i]) for i in range(0, len(values) - 1, 2)}
    except (KeyError, *PARSE_ERRORS):
        return set()


def _load_embedded(*, reader, fq_name: str, sig_obj, field) -> dict:
    entry: dict = {"field": fq_name, "embedded": None, "error": None, "revision": -1}
    try:
        sig_dict = sig_obj.get_object()
        entry["kind"] = str(sig_dict.get("/Type", "/Sig"))
        entry["revision"] = reader.xrefs.get_last_change(sig_obj.reference)
    except PARSE_ERRORS as exc:
        entry["kind"] = "/Sig"
        entry["error"] = _short(exc)
        return entry
    try:
        entry["embedded"] = EmbeddedPdfSignature(reader, field, fq_name)
    except PdfDecodeLimitError:
        entry["error"] = "too large to inflate safely"
    except PARSE_ERRORS as exc:
        entry["error"] = _short(exc)
    return entry


def _embedded_revinfo(*, reader) -> dict:
    """Certificates, CRLs and OCSP responses from the document security store (if any)."""
    found: dict = {"certs": [], "crls": [], "ocsps": [], "present": False}
    try:
        dss = reader.root["/DSS"]
    except KeyError:
        return found
    except PARSE_ERRORS:
        return found
    found["present"] = True
    loaders = (
        ("/Certs", "certs", x509.Certificate, DecodePurpose.CERTIFICATE),
        ("/CRLs", "crls", crl.CertificateList, DecodePurpose.CRL),
        ("/OCSPs", "ocsps", ocsp.OCSPResponse, DecodePurpose.OCSP_RESPONSE),
    )
    for key, target, asn1_type, purpose in loaders:
        try:
            refs = get_and_apply(dss, key, list, default=[])
        except PARSE_ERRORS:
            continue  # a malformed DSS array: no validation data from it
        for ref in refs:
            try:
                value = asn1_type.load(ref.get_object().read_data(purpose))
                value.native  # noqa: B018 - force a full parse now, not deep inside validation
                found[target].append(value)
            except PARSE_ERRORS:
                continue  # an undecodable entry simply does not count as validation data
    return found


def _contexts(*, trust_roots: list[x509.Certificate], revinfo: dict, moment: datetime | None):
    def make():
        kwargs = {
            "trust_roots": list(trust_roots),
            "other_certs": list(revinfo["certs"]),
            "crls": list(revinfo["crls"]),
            "ocsps": list(revinfo["ocsps"]),
            "allow_fetching": False,
            # missing revocation data is tolerated (B-B/B-T); a revocation that is present counts
            "revocation_mode": "soft-fail",
        }
        if moment is not None:
            kwargs["moment"] = moment
        return ValidationContext(**kwargs)

    # separate contexts: the TSA chains on its own path, possibly to another root
    return make(), make()


def _key_usage():
    return KeyUsageConstraints(key_usage={"non_repudiation", "digital_signature"}, match_all_key_usages=False)


def _blank_signature(*, field: str) -> dict:
    return {
        "field": field,
        "signer": None,
        "signed_at": None,
        "intact": False,
        "trusted": False,
        "revoked": False,
        "timestamp": None,
        "level": "B-B",
        "coverage": "partial",
        "modifications": "other",
        "attachments_added": [],
        "valid": False,
        "status": "indeterminate",
        "problem_codes": [],
        "_problems": [],
        "_revision": -1,
    }


def _add(result: dict, code: str, detail: str = "") -> None:
    # one sentence per kind of problem: the first detail is the telling one
    if code not in _codes(result):
        result["_problems"].append((code, detail))


async def _check_signature(
    *,
    entry: dict,
    trust_roots: list[x509.Certificate],
    revinfo: dict,
    tail_junk: bool,
    signature_fields: set[str],
) -> dict:
    result = _blank_signature(field=entry["field"])
    result["_revision"] = entry["revision"]
    embedded = entry["embedded"]
    if embedded is None:
        _add(result, "format_failure", entry["error"] or "unreadable signature")
        return result
    result["signer"] = _signer_name(embedded=embedded)
    _check_baseline(embedded=embedded, result=result)
    result["attachments_added"] = entry.get("attachments_added", [])

    diff_failed = False
    try:
        status = await _validate(embedded=embedded, trust_roots=trust_roots, revinfo=revinfo)
    except (*PARSE_ERRORS, RecursionError) as exc:
        if isinstance(exc, SignatureValidationError) or not _in_diff_analysis(embedded=embedded):
            _add(result, "format_failure", _short(exc))
            return result
        # the difference analysis choked (loops, broken objects): judge the rest, flag the changes
        diff_failed = True
        try:
            status = await _validate(embedded=embedded, trust_roots=trust_roots, revinfo=revinfo, skip_diff=True)
        except (*PARSE_ERRORS, RecursionError) as retry_exc:
            _add(result, "format_failure", _short(retry_exc))
            return result

    status = await _revalidate_at_timestamp_if_expired(
        status=status, embedded=embedded, trust_roots=trust_roots, revinfo=revinfo
    )
    _fill_from_status(
        result=result,
        status=status,
        tail_junk=tail_junk,
        diff_failed=diff_failed,
        signature_fields=signature_fields,
    )
    result["_chain"] = _chain_of(status=status, embedded=embedded)
    return result


def _chain_of(*, status, embedded) -> list[x509.Certificate]:
    if status.validation_path is not None:
        return list(status.validation_path.iter_certs(include_root=False))
    return [embedded.signer_cert]


async def _validate(*, embedded, trust_roots, revinfo, skip_diff: bool = False, moment=None):
    signer_ctx, ts_ctx = _contexts(trust_roots=trust_roots, revinfo=revinfo, moment=moment)
    return await async_validate_pdf_signature(
        embedded,
        signer_validation_context=signer_ctx,
        ts_validation_context=ts_ctx,
        key_usage_settings=_key_usage(),
        skip_diff=skip_diff,
        diff_policy=_diff_policy(),
    )


def _diff_policy():
    # pyHanko's standard rules, plus the archive-record update dsign makes (signing.archive)
    from signing.archive import archive_diff_policy

    return archive_diff_policy()


def _in_diff_analysis(*, embedded) -> bool:
    # integrity data is computed before the diff: if coverage is known, the failure was in the diff
    return embedded.coverage is not None


async def _revalidate_at_timestamp_if_expired(*, status, embedded, trust_roots, revinfo):
    """A B-T+ signature is judged at the time its trusted timestamp proves it existed."""
    ts = status.timestamp_validity
    expired = status.trust_problem_indic in (
        AdESIndeterminate.OUT_OF_BOUNDS_NO_POE,
        AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED,
        AdESIndeterminate.EXPIRED,
    )
    if not (expired and ts is not None and ts.intact and ts.valid and ts.trusted):
        return status
    try:
        return await _validate(embedded=embedded, trust_roots=trust_roots, revinfo=revinfo, moment=ts.timestamp)
    except PARSE_ERRORS:
        return status


def _fill_from_status(*, result: dict, status, tail_junk: bool, diff_failed: bool, signature_fields: set[str]) -> None:
    result["intact"] = bool(status.intact)
    result["revoked"] = bool(status.revoked)
    result["trusted"] = bool(status.trusted) and not result["revoked"]
    ts = status.timestamp_validity
    if ts is not None:
        result["timestamp"] = ts.timestamp.isoformat()
        result["timestamp_trusted"] = bool(ts.intact and ts.valid and ts.trusted)
        if not (ts.intact and ts.valid):
            _add(result, "timestamp_invalid")
        elif not ts.trusted:
            _add(result, "timestamp_untrusted")
    signed_at = ts.timestamp if ts is not None else status.signer_reported_dt
    result["signed_at"] = signed_at.isoformat() if signed_at is not None else None

    result["coverage"] = COVERAGE_NAMES.get(int(status.coverage.value), "partial")
    if result["coverage"] == "entire_revision" and tail_junk:
        result["coverage"] = "partial"
        _add(result, "trailing_data")
    result["modifications"] = _modifications(status=status, coverage=result["coverage"])
    result["_evaluated"] = True
    if diff_failed:
        result["modifications"] = "other"
        _add(result, "modifications_unknown")

    if not status.intact:
        _add(result, "not_intact")
    elif not status.valid:
        _add(result, "crypto_invalid")
    weak = _weak_algorithm(status=status)
    if weak:
        _add(result, "weak_algorithm", weak)
    if result["revoked"]:
        _add(result, "revoked")
    elif status.intact and status.valid and not result["trusted"]:
        indic = status.trust_problem_indic
        if indic in (
            AdESIndeterminate.OUT_OF_BOUNDS_NO_POE,
            AdESIndeterminate.EXPIRED,
            AdESIndeterminate.NOT_YET_VALID,
            AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED,
        ):
            _add(result, "expired")
        elif status.validation_path is not None and _bad_key_usage(status):
            _add(result, "key_usage")
        elif indic == AdESIndeterminate.CRYPTO_CONSTRAINTS_FAILURE and not weak:
            _add(result, "weak_algorithm", status.md_algorithm)
        if status.validation_path is None:
            # whatever else failed, no chain reached one of our roots
            _add(result, "untrusted")
    if result["coverage"] == "partial":
        _add(result, "coverage_partial")
    if result["modifications"] == "other":
        _add(result, "modified_other")
    elif result["modifications"] == "annotations":
        _add(result, "modified_annotations")
    if result.get("attachments_added"):
        _add(result, "attachments_added", ", ".join(result["attachments_added"]))
    changed = _changed_value_fields(status=status, signature_fields=signature_fields)
    if changed:
        result["changed_form_fields"] = changed
        _add(result, "form_fields_changed", ", ".join(changed))
    if status.docmdp_ok is False and result["modifications"] != "other":
        _add(result, "docmdp_violation")
    if not status.seed_value_ok:
        _add(result, "seed_value")
    if status.docmdp_ok is False and "docmdp_violation" not in _codes(result):
        result["modifications"] = "other"

    result["valid"] = (
        result["intact"]
        and bool(status.valid)
        and result["trusted"]
        and not result["revoked"]
        and result["coverage"] in ("entire_file", "entire_revision")
        and result["modifications"] in ACCEPTED_MODIFICATIONS
        and status.docmdp_ok is not False
        and status.seed_value_ok
        and not weak
        and not _problems_other_than(result, HARMLESS_NOTES)
    )
    result["status"] = _status_of(result)


def _codes(result: dict) -> list[str]:
    return [code for code, _ in result["_problems"]]


def _problems_other_than(result: dict, harmless: set[str]) -> bool:
    return any(code not in harmless for code in _codes(result))


def _status_of(result: dict) -> str:
    if result["valid"]:
        return "valid"
    codes = set(_codes(result))
    definite = codes - INDETERMINATE_CODES - HARMLESS_NOTES
    return "invalid" if definite else "indeterminate"


def _modifications(*, status, coverage: str) -> str:
    if coverage == "partial":
        return "other"
    level = status.modification_level
    if level is None:
        return "other"
    return {
        ModificationLevel.NONE: "none",
        ModificationLevel.LTA_UPDATES: "none",
        ModificationLevel.FORM_FILLING: "form_filling",
        ModificationLevel.ANNOTATIONS: "annotations",
    }.get(level, "other")


def _changed_value_fields(*, status, signature_fields: set[str]) -> list[str]:
    """Non-signature form fields whose value changed after the signature (shadow attacks)."""
    diff = status.diff_result
    if not isinstance(diff, DiffResult):
        return []
    # later signatures fill signature fields: that is the normal workflow, not a changed value
    return sorted(name for name in diff.changed_form_fields if name not in signature_fields)


def _bad_key_usage(status) -> bool:
    cert = status.signing_cert
    if cert.key_usage_value is None:
        return False
    return not ({"non_repudiation", "digital_signature"} & set(cert.key_usage_value.native))


def _weak_algorithm(*, status) -> str:
    if status.md_algorithm in ("md2", "md5", "sha1"):
        return status.md_algorithm.upper().replace("SHA", "SHA-")
    public_key = status.signing_cert.public_key
    if public_key.algorithm == "rsa" and public_key.bit_size < 2048:
        return f"RSA {public_key.bit_size}-bit key"
    return ""


def _signer_name(*, embedded) -> str | None:
    try:
        subject = embedded.signer_cert.subject
    except PARSE_ERRORS:
        return None
    names = subject.native
    return names.get("common_name") or subject.human_friendly


def _check_baseline(*, embedded, result: dict) -> None:
    """PAdES baseline (ETSI EN 319 142-1) shape of the CMS: our format policy."""
    signed_data = embedded.signed_data
    if str(embedded.sig_object.get("/SubFilter", "")) == "/adbe.pkcs7.sha1":
        _add(result, "weak_algorithm", "SHA-1 (adbe.pkcs7.sha1)")
        return
    encap = signed_data["encap_content_info"]
    if encap["content_type"].native == "data" and encap["content"].native is not None:
        _add(result, "format_failure", "the signature carries its own copy of the content")
        return
    signed_attrs = embedded.signer_info["signed_attrs"]
    if not signed_attrs or signed_attrs.native is None:
        _add(result, "not_baseline", "no signed attributes")
        _add(result, "format_failure", "no message digest attribute")
        return
    types = {attr["type"].native for attr in signed_attrs}
    if "signing_certificate_v2" not in types:
        if "signing_certificate" in types:
            _add(result, "not_baseline", "old-style signing-certificate attribute")
        else:
            _add(result, "not_baseline", "no signing-certificate attribute")
    if "message_digest" not in types:
        _add(result, "format_failure", "no message digest")


async def _check_doc_timestamp(
    *, entry: dict, trust_roots: list[x509.Certificate], revinfo: dict, tail_junk: bool
) -> dict:
    result = {
        "field": entry["field"],
        "timestamp": None,
        "intact": False,
        "trusted": False,
        "coverage": "partial",
        "modifications": "other",
        "valid": False,
        "problem_codes": [],
        "_problems": [],
        "_revision": entry["revision"],
    }
    embedded = entry["embedded"]
    if embedded is None:
        _add(result, "format_failure", entry["error"] or "unreadable timestamp")
        return result
    _, ts_ctx = _contexts(trust_roots=trust_roots, revinfo=revinfo, moment=None)
    try:
        status = await async_validate_pdf_timestamp(embedded, validation_context=ts_ctx, diff_policy=_diff_policy())
    except PARSE_ERRORS as exc:
        _add(result, "format_failure", _short(exc))
        return result
    result["timestamp"] = status.timestamp.isoformat()
    result["intact"] = bool(status.intact and status.valid)
    result["trusted"] = bool(status.trusted)
    result["coverage"] = COVERAGE_NAMES.get(int(status.coverage.value), "partial")
    if result["coverage"] == "entire_revision" and tail_junk:
        result["coverage"] = "partial"
        _add(result, "trailing_data")
    result["modifications"] = _modifications(status=status, coverage=result["coverage"])
    result["_evaluated"] = True
    if not result["intact"]:
        _add(result, "doc_timestamp_invalid", result["field"])
    elif not result["trusted"]:
        _add(result, "doc_timestamp_untrusted", result["field"])
    if result["modifications"] not in ACCEPTED_MODIFICATIONS:
        _add(result, "changed_after_last")
    result["valid"] = (
        result["intact"]
        and result["trusted"]
        and result["coverage"] != "partial"
        and result["modifications"] in ACCEPTED_MODIFICATIONS
    )
    return result


MAX_STRUCTURE_NODES = 1_000_000


def _structure_damage(*, reader) -> str:
    """Why the document's structure is broken (empty when it is not).

    pyHanko reads objects lazily, so a broken object stream or a loop in the page or structure tree
    may never be touched by signature validation; a strict verifier refuses to bless such a file.
    """
    xrefs = reader.xrefs
    loaded = 0
    for revision in range(xrefs.total_revisions):
        for ref in xrefs.explicit_refs_in_revision(revision):
            loaded += 1
            if loaded > MAX_STRUCTURE_NODES:
                return "too many objects"
            try:
                reader.get_object(ref)
            except PdfDecodeLimitError:
                raise
            except PARSE_ERRORS as exc:
                return _short(exc)
    root = reader.root
    for key, children in (("/Pages", "/Kids"), ("/StructTreeRoot", "/K")):
        if key in root:
            problem = _tree_loop(start=root.raw_get(key), children=children)
            if problem:
                return problem
    return ""


def _tree_loop(*, start, children: str) -> str:
    seen: set[tuple[int, int]] = set()
    stack = [start]
    while stack:
        if len(seen) > MAX_STRUCTURE_NODES:
            return "tree too large"
        node = stack.pop()
        if isinstance(node, generic.IndirectObject):
            key = (node.idnum, node.generation)
            if key in seen:
                return f"loop in {children} tree at object {node.idnum}"
            seen.add(key)
            try:
                node = node.get_object()
            except PARSE_ERRORS as exc:
                return _short(exc)
        if isinstance(node, generic.ArrayObject):
            stack.extend(node.raw_get(index) for index in range(len(node)))
        elif isinstance(node, generic.DictionaryObject) and children in node:
            stack.append(node.raw_get(children))
    return ""


def _has_trailing_data(*, data: bytes) -> bool:
    # pyHanko accepts a revision whose %%EOF is followed by junk; an appended payload must not pass
    return not data.rstrip(b"\x00\t\n\f\r ").endswith(b"%%EOF")


def _level(*, signature: dict, doc_timestamps: list[dict], revinfo: dict) -> str:
    if signature["timestamp"] is None:
        return "B-B"
    if not (revinfo["present"] and _revinfo_covers(signature=signature, revinfo=revinfo)):
        return "B-T"
    later_dts = [ts for ts in doc_timestamps if ts["_revision"] > signature["_revision"] and ts["intact"]]
    return "B-LTA" if later_dts else "B-LT"


def signature_level(*, pdf: bytes, field_name: str) -> str:
    """The PAdES level the signature in `field_name` reaches by what `pdf` holds (its timestamp token, the
    revocation data of its chain, a later document timestamp). No trust or integrity check: this asks
    whether a signature just made carries what its level needs."""
    levels = _levels_held(pdf=pdf)
    if field_name not in levels:
        raise ValueError(f"The document has no signature in field {field_name!r}")
    return levels[field_name]


def document_timestamp_level(*, pdf: bytes) -> str:
    """The lowest level reached by the signatures of `pdf` (B-LTA when every one is archived)."""
    levels = _levels_held(pdf=pdf).values()
    return min(levels, key=("B-B", "B-T", "B-LT", "B-LTA").index, default="B-B")


def _levels_held(*, pdf: bytes) -> dict[str, str]:
    from pyhanko.sign.validation.generic_cms import extract_tst_data_iter

    reader = PdfFileReader(BytesIO(pdf), strict=False)
    revinfo = _embedded_revinfo(reader=reader)
    doc_timestamps = [
        {"_revision": embedded.signed_revision, "intact": True} for embedded in reader.embedded_timestamp_signatures
    ]
    levels = {}
    for embedded in reader.embedded_regular_signatures:
        token = next(extract_tst_data_iter(embedded.signer_info, signed=False), None)
        signature = {
            "timestamp": token,
            "_revision": embedded.signed_revision,
            "_chain": [embedded.signer_cert, *embedded.other_embedded_certs],
        }
        levels[embedded.field_name] = _level(signature=signature, doc_timestamps=doc_timestamps, revinfo=revinfo)
    return levels


def _revinfo_covers(*, signature: dict, revinfo: dict) -> bool:
    """Every certificate of the signer's chain (except the anchor) has a CRL or OCSP answer."""
    chain = signature.get("_chain") or []
    if not chain:
        return bool(revinfo["crls"] or revinfo["ocsps"])
    crl_issuers = {crl["tbs_cert_list"]["issuer"].dump() for crl in revinfo["crls"]}
    ocsp_serials = set()
    for response in revinfo["ocsps"]:
        try:
            basic = response["response_bytes"]["response"].parsed
            for single in basic["tbs_response_data"]["responses"]:
                ocsp_serials.add(single["cert_id"]["serial_number"].native)
        except PARSE_ERRORS:
            continue  # an unusable OCSP response covers nothing
    for cert in chain:
        if cert.self_signed != "no":
            continue
        if cert.issuer.dump() not in crl_issuers and cert.serial_number not in ocsp_serials:
            return False
    return True


def _assemble(*, signatures: list[dict], doc_timestamps: list[dict], damage: str, lang: str) -> dict:
    top: list[tuple[str, str]] = []
    if damage:
        top.append(("damaged_document", damage))
    if not signatures:
        top.append(("no_signatures", ""))
    for signature in signatures:
        if not signature["valid"]:
            top.append(("signature_problem", signature["field"]))
    for ts in doc_timestamps:
        for problem in ts["_problems"]:
            if problem not in top:
                top.append(problem)
    evaluated = [item for item in signatures + doc_timestamps if item.get("_evaluated")]
    last = max(evaluated, key=lambda item: item["_revision"], default=None)
    if last is not None and last["modifications"] not in ACCEPTED_MODIFICATIONS:
        top.append(("changed_after_last", ""))

    valid = bool(signatures) and all(s["valid"] for s in signatures)
    valid = valid and all(ts["valid"] for ts in doc_timestamps) and not top
    statuses = {s["status"] for s in signatures}
    if valid:
        status = "valid"
    elif "invalid" in statuses or any(not ts["valid"] for ts in doc_timestamps):
        status = "invalid"
    else:
        status = "indeterminate"

    for item in signatures + doc_timestamps:
        problems = item.pop("_problems")
        item.pop("_revision", None)
        item.pop("_chain", None)
        item.pop("_evaluated", None)
        item["problem_codes"] = [code for code, _ in problems]
        item["problems"] = [problem_text(code=c, lang=lang, detail=d) for c, d in problems]
    return {
        "valid": valid,
        "status": status,
        "signatures": signatures,
        "document_timestamps": doc_timestamps,
        "problems": [problem_text(code=c, lang=lang, detail=d) for c, d in top],
        "problem_codes": [code for code, _ in top],
    }
