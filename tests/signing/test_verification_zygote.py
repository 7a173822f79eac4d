"""The verifier's process model: a warm zygote per process, one forked, limited child per request.

Repeatable answers on a 10-signature document, reuse and restart of the zygote, thread- and
fork-safety, no child left behind, the zygote leaving with its client, and the two speed-ups of
`install_fast_paths` giving exactly pyHanko's and asn1crypto's results.
"""

import os
import signal
import subprocess
import sys
import threading
import time
import zlib
from io import BytesIO
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfReadError

from signing import pades, verification, verification_patches, verification_sandbox
from signing.verification import verify_pdf_bytes
from tests.signing.test_verification_unit import (
    _blank_pdf,
    _pdf_with_xref_stream,
    simple_signer,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def chain():
    root, signer = simple_signer(root_name="dsign Zygote Test Root", common_name="ผู้ลงนาม ทดสอบ")
    return {"root": root, "signer": signer}


@pytest.fixture(scope="module")
def ten_signatures(chain) -> bytes:
    """One page signed ten times by dsign's own PAdES code, as ten approvals would."""
    data = _blank_pdf()
    for index in range(10):
        data = pades.sign_pdf(pdf=data, signer=chain["signer"], field_name=f"Sig{index + 1}", level="B-B")
    return data


def zygote_pid() -> int:
    assert verification_sandbox._zygote is not None
    return verification_sandbox._zygote.process.pid


def children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(word) for word in path.read_text().split()]


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def wait_for(condition, *, timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


# --- speed -------------------------------------------------------------------------------------------------


def test_ten_signature_document_verifies_the_same_on_every_warm_call(chain, ten_signatures):
    # How fast this is belongs to `make bench` (BENCHMARKS.md), not to an assertion here.
    verification.verifier_warm_up()
    first = verify_pdf_bytes(data=ten_signatures, trust_roots=[chain["root"]])
    assert first["valid"] is True, first["problems"]
    assert [s["field"] for s in first["signatures"]] == [f"Sig{i}" for i in range(1, 11)]
    assert all(s["valid"] and s["modifications"] in ("none", "form_filling") for s in first["signatures"])
    for _ in range(3):
        assert verify_pdf_bytes(data=ten_signatures, trust_roots=[chain["root"]]) == first


# --- the zygote's life ---------------------------------------------------------------------------------------


def test_zygote_is_reused_and_replaced_when_it_dies(chain, ten_signatures):
    assert verify_pdf_bytes(data=ten_signatures, trust_roots=[chain["root"]])["valid"] is True
    pid = zygote_pid()
    assert verify_pdf_bytes(data=ten_signatures, trust_roots=[chain["root"]])["valid"] is True
    assert zygote_pid() == pid

    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: verification_sandbox._zygote.process.poll() is not None)

    report = verify_pdf_bytes(data=ten_signatures, trust_roots=[chain["root"]])
    assert report["valid"] is True, report["problems"]
    assert zygote_pid() != pid


def test_a_killed_child_leaves_the_zygote_working_and_no_child_behind(chain, ten_signatures):
    verification.verifier_warm_up()
    pid = zygote_pid()
    report = verify_pdf_bytes(data=ten_signatures, trust_roots=[chain["root"]], timeout_s=0.01)
    assert report["problem_codes"] == ["timeout"]
    assert verification.verifier_last_peak_rss_bytes() is None

    assert wait_for(lambda: children_of(pid) == []), children_of(pid)
    assert verify_pdf_bytes(data=ten_signatures, trust_roots=[chain["root"]])["valid"] is True
    assert zygote_pid() == pid
    assert wait_for(lambda: children_of(pid) == [])


def test_memory_of_each_child_is_limited_and_measured(chain, ten_signatures):
    verify_pdf_bytes(data=ten_signatures, trust_roots=[chain["root"]])
    peak = verification.verifier_last_peak_rss_bytes()
    assert peak is not None and (1 << 20) < peak < (1 << 30)

    inner = zlib.compressobj(1)
    chunk = bytes(64 << 20)
    bomb = zlib.compress(b"".join(inner.compress(chunk) for _ in range(16)) + inner.flush(), 9)
    data = _pdf_with_xref_stream(xref_payload_filter=b" /Filter [/FlateDecode /FlateDecode]", xref_stream_data=bomb)
    limit = 400 << 20
    report = verify_pdf_bytes(data=data, trust_roots=[chain["root"]], memory_limit_bytes=limit)
    assert report["status"] == "indeterminate"
    assert report["problem_codes"][0] in ("too_complex", "timeout"), report
    peak = verification.verifier_last_peak_rss_bytes()
    assert peak is None or peak <= limit


def test_concurrent_threads_share_the_zygote_and_get_their_own_answers(chain, ten_signatures):
    verification.verifier_warm_up()
    pid = zygote_pid()
    tampered = bytearray(ten_signatures)
    tampered[ten_signatures.index(b"\n") + 2] ^= 0x01
    inputs = [ten_signatures, bytes(tampered), b"not a pdf at all"] * 3
    results: list = [None] * len(inputs)

    def work(index: int) -> None:
        try:
            results[index] = verify_pdf_bytes(data=inputs[index], trust_roots=[chain["root"]])["status"]
        except verification.UnreadablePDF:
            results[index] = "unreadable"

    threads = [threading.Thread(target=work, args=(index,)) for index in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == ["valid", "invalid", "unreadable"] * 3
    assert zygote_pid() == pid


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_process_starts_its_own_zygote_and_leaves_the_parents_alone(chain, ten_signatures):
    verification.verifier_warm_up()
    parent_zygote = zygote_pid()
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child, reports through the pipe
        code = 1
        try:
            assert verification_sandbox._zygote is None
            report = verify_pdf_bytes(data=ten_signatures, trust_roots=[chain["root"]])
            os.write(write_end, f"{report['status']} {zygote_pid()}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    verdict, child_zygote = message.split()
    assert verdict == "valid"
    assert int(child_zygote) != parent_zygote
    assert wait_for(lambda: gone(int(child_zygote)))  # it left with the process that started it

    assert zygote_pid() == parent_zygote
    assert verify_pdf_bytes(data=ten_signatures, trust_roots=[chain["root"]])["valid"] is True


def test_zygote_leaves_when_its_process_dies_without_cleaning_up(tmp_path, chain):
    script = (
        "import os, sys\n"
        "from asn1crypto import x509\n"
        "from signing import verification, verification_sandbox\n"
        "root = x509.Certificate.load(open(sys.argv[1], 'rb').read())\n"
        "try:\n"
        "    verification.verify_pdf_bytes(data=b'%PDF-1.7 junk', trust_roots=[root])\n"
        "except verification.UnreadablePDF:\n"
        "    pass\n"
        "print(verification_sandbox._zygote.process.pid, flush=True)\n"
        "os._exit(0)  # no atexit: only the closed socket tells the zygote\n"
    )
    root_path = tmp_path / "root.der"
    root_path.write_bytes(chain["root"].dump())
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run(
        [sys.executable, "-c", script, str(root_path)], cwd=REPO, env=env, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert wait_for(lambda: gone(int(result.stdout)))


# --- the speed-ups change nothing ------------------------------------------------------------------------------


HEX_CASES = [
    b"<>",
    b"<41>",
    b"<4>",
    b"<414>",
    b"< 41 42\n43\t44\r\x00 >",
    b"<FEFF0041>",
    b"<feff00410042>",
    b"<" + b"0a" * 40000 + b">",
    b"<" + b"0a 1B\n" * 30000 + b">trailing",
    b"<41 % a comment > inside\n42>",
    b"<41G2>",
    b"<41-42>",
    b"<4142",
    b"<" + b"00" * 70000,
    b"<41>>>",
]


def _read_hex(reader, data: bytes):
    stream = BytesIO(b"xx" + data)
    stream.seek(2)
    try:
        value = reader(stream)
    except PdfReadError as exc:
        return ("error", type(exc).__name__, str(exc))
    return (type(value).__name__, bytes(value.original_bytes), stream.tell())


@pytest.mark.parametrize("data", HEX_CASES, ids=[repr(case[:12]) for case in HEX_CASES])
def test_fast_hex_reader_reads_exactly_what_pyhanko_reads(data):
    assert verification_patches._read_hex_string_fast is not verification_patches._ORIGINAL_HEX_READER
    assert _read_hex(verification_patches._read_hex_string_fast, data) == _read_hex(
        verification_patches._ORIGINAL_HEX_READER, data
    )


def test_fast_hex_reader_is_what_the_verifier_parses_with():
    verification.install_fast_paths()
    try:
        assert generic.read_hex_string_from_stream is verification_patches._read_hex_string_fast
        parsed = generic.read_object(BytesIO(b"<3031 3233> 0 obj"), None)
        assert bytes(parsed.original_bytes) == b"0123"
    finally:
        generic.read_hex_string_from_stream = verification_patches._ORIGINAL_HEX_READER
        asn1_x509.NameTypeAndValue._ldap_string_prep = verification_patches._ORIGINAL_NAME_PREP


@pytest.mark.parametrize(
    "value",
    ["สำนักงาน  ทดสอบ", "  Somchai   JAIDEE ", "ＡＢＣ", "a\u200bb", "\u0627\u0644 1", "x\u0000y", ""],
)
def test_memoised_name_preparation_matches_asn1crypto(value):
    def prep(function):
        try:
            return function(None, value)
        except ValueError as exc:
            return ("error", str(exc))

    expected = prep(verification_patches._ORIGINAL_NAME_PREP)
    assert prep(verification_patches._name_prep) == expected
    assert prep(verification_patches._name_prep) == expected  # from the cache, same answer
