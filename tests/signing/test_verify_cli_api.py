"""`manage.py verify_pdf` and `POST /api/v1/verify/` on the corpus, on a document dsign signed through its
API (B-B walking-skeleton flow), on that document changed, and on non-PDFs, oversized and encrypted uploads.

A handful of runs are real `manage.py verify_pdf` processes, as an operator runs them (valid → 0, changed →
1, not a PDF → 2, missing → 2, a malformed corpus file); the rest, the whole corpus included, go through
`call_command` in this process (the verification itself still runs in its own limited child process).
No run prints a traceback or lets a verifier grow past 1 GiB."""

import contextlib
import io
import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pikepdf
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from signing import encryption, verification
from tests.signing.test_verification_corpus import CORPUS

REPO = Path(__file__).resolve().parents[2]
CORPUS_FILES = sorted(path for path in CORPUS.rglob("*.pdf"))
MALFORMED = CORPUS / "pyhanko/malformed/circular-page-tree.pdf"
ONE_GIB = 1 << 30
PASSWORD = "ลับมาก-2569"


def run_cli(*args: str, tmp_path: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """verify_pdf in its own Python process, as an operator would run it (its own empty var/ dir)."""
    env = dict(os.environ)
    env["DSIGN_VAR_DIR"] = str(tmp_path / "cli-var")
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    env["DJANGO_SETTINGS_MODULE"] = "dsign.settings"
    return subprocess.run(
        [sys.executable, str(REPO / "manage.py"), "verify_pdf", *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        timeout=120,
    )


def run_in_process(*args: str, stdin: bytes | None = None) -> SimpleNamespace:
    """verify_pdf through call_command: exit status, stdout and stderr as a process would give them."""
    out, err = io.StringIO(), io.StringIO()
    stdin_text = io.StringIO((stdin or b"").decode("utf-8"))
    returncode = 0
    with contextlib.redirect_stderr(err), _replaced_stdin(stdin_text):
        try:
            call_command("verify_pdf", *args, stdout=out)
        except SystemExit as exc:
            returncode = exc.code if isinstance(exc.code, int) else 1
    peak = verification.verifier_last_peak_rss_bytes()
    assert peak is None or peak < ONE_GIB
    return SimpleNamespace(
        returncode=returncode, stdout=out.getvalue().encode("utf-8"), stderr=err.getvalue().encode("utf-8")
    )


@contextlib.contextmanager
def _replaced_stdin(replacement):
    original, sys.stdin = sys.stdin, replacement
    try:
        yield
    finally:
        sys.stdin = original


def peak_child_rss_bytes() -> int:
    # the largest resident set of any finished descendant: the CLI and its verify worker alike
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def assert_clean(result) -> None:
    stderr = result.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr, stderr
    if result.returncode == 2:
        assert len(stderr.strip().splitlines()) == 1, stderr


@pytest.fixture
def root_pem(client, tmp_path) -> Path:
    path = tmp_path / "root.crt"
    path.write_bytes(client.get("/pki/root.crt").content)
    return path


@pytest.fixture
def dsign_signed(personas, api_for, otp, pdf_bytes, bb_template) -> bytes:
    requester = api_for(personas["requester"])
    created = requester.post(
        "/api/v1/documents/",
        {"file": SimpleUploadedFile("memo.pdf", pdf_bytes), "title": "ตรวจสอบ CLI", "workflow": "memo-2-tier"},
        format="multipart",
    )
    assert created.status_code == 201, created.content
    document_id = created.json()["id"]
    head1 = api_for(personas["head1"])
    response = head1.post(f"/api/v1/documents/{document_id}/approve/", {"otp": otp(personas["head1"])}, format="json")
    assert response.status_code == 202, response.content
    return b"".join(head1.get(f"/api/v1/documents/{document_id}/file/").streaming_content)


def changed_after_signing(pdf: bytes) -> bytes:
    """An incremental update that draws over the signed page: content, not form filling."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page = writer.root["/Pages"]["/Kids"][0]
    overlay = writer.add_object(generic.StreamObject(stream_data=b"0 0 1 rg 50 50 200 200 re f"))
    page["/Contents"] = overlay
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def byte_flipped(pdf: bytes) -> bytes:
    tampered = bytearray(pdf)
    position = pdf.index(b"\n") + 2  # the binary comment of the header: signed, harmless to parsers
    tampered[position] ^= 0x01
    return bytes(tampered)


def encrypted_signed_pdf(pdf: bytes) -> bytes:
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        doc.save(out, encryption=pikepdf.Encryption(user=PASSWORD, owner=PASSWORD, R=6))
    return out.getvalue()


# --- the CLI ---------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", CORPUS_FILES, ids=[str(p.relative_to(CORPUS)) for p in CORPUS_FILES])
def test_cli_never_passes_a_corpus_file_and_never_crashes(path, root_pem):
    result = run_in_process(str(path), "--json", "--trust-root", str(root_pem))
    assert_clean(result)
    assert result.returncode in (1, 2), result
    if result.returncode == 1:
        report = json.loads(result.stdout)
        assert report["valid"] is False
        assert report["status"] in ("invalid", "indeterminate")


@pytest.mark.hsm
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_cli_processes_exit_0_1_2_on_a_dsign_document_its_change_and_bad_files(dsign_signed, root_pem, tmp_path):
    def run(data: bytes, name: str, *extra: str):
        path = tmp_path / name
        path.write_bytes(data)
        result = run_cli(str(path), "--trust-root", str(root_pem), *extra, tmp_path=tmp_path)
        assert_clean(result)
        return result

    signed = run(dsign_signed, "signed.pdf")
    assert signed.returncode == 0, signed
    assert signed.stdout.startswith(b"VALID")
    assert "head1" in signed.stdout.decode() or "B-B" in signed.stdout.decode()

    changed = run(changed_after_signing(dsign_signed), "changed.pdf")
    assert changed.returncode == 1, changed
    assert changed.stdout.startswith(b"NOT VALID")

    not_pdf = run(b"PK\x03\x04 this is a zip, not a pdf", "zip.pdf")
    assert not_pdf.returncode == 2 and b"not a readable PDF" in not_pdf.stderr

    missing = run_cli(str(tmp_path / "nope.pdf"), tmp_path=tmp_path)
    assert missing.returncode == 2 and b"cannot read" in missing.stderr
    assert_clean(missing)

    malformed = run_cli(str(MALFORMED), "--json", "--trust-root", str(root_pem), tmp_path=tmp_path)
    assert_clean(malformed)
    assert malformed.returncode in (1, 2), malformed
    if malformed.returncode == 1:
        assert json.loads(malformed.stdout)["status"] == "indeterminate"
    # each CLI waits for its verifier at exit, so the verifier's memory is in our children's figure
    assert peak_child_rss_bytes() < ONE_GIB


@pytest.mark.hsm
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_cli_verdicts_on_a_dsign_document_changed_encrypted_and_unreadable(dsign_signed, root_pem, tmp_path):
    def run(data: bytes, name: str, *extra: str, stdin: bytes | None = None):
        path = tmp_path / name
        path.write_bytes(data)
        result = run_in_process(str(path), "--trust-root", str(root_pem), *extra, stdin=stdin)
        assert_clean(result)
        return result

    as_json = run(dsign_signed, "signed2.pdf", "--json")
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["signatures"][0]["level"] == "B-B"
    in_thai = run(dsign_signed, "signed3.pdf", "--lang", "th")
    assert in_thai.returncode == 0 and in_thai.stdout.startswith(b"VALID")

    assert run(changed_after_signing(dsign_signed), "changed.pdf").returncode == 1
    assert run(byte_flipped(dsign_signed), "flipped.pdf").returncode == 1
    assert run(dsign_signed + b"\n<script>appended</script>\n", "appended.pdf").returncode == 1

    not_pdf = run(b"hello, not a pdf", "hello.pdf")
    assert not_pdf.returncode == 2 and b"not a readable PDF" in not_pdf.stderr

    locked = run(encrypted_signed_pdf(dsign_signed), "locked.pdf")
    assert locked.returncode == 2 and b"encrypted" in locked.stderr and b"--password-file" in locked.stderr

    copy = encryption.document_encrypted_copy(pdf=dsign_signed, password=PASSWORD)
    opened = run(copy, "copy.pdf", "--password-file", "-", stdin=PASSWORD.encode("utf-8") + b"\n")
    # a wrapper is never valid itself (issue 17, class 5); it says what is inside
    assert opened.returncode == 1, opened
    assert b"encrypted copy" in opened.stdout
    wrong = run(copy, "copy2.pdf", "--password-file", "-", stdin=b"not the password\n")
    assert wrong.returncode == 2 and b"encrypted" in wrong.stderr


# --- the API ---------------------------------------------------------------------------------------


def post_verify(client, data: bytes, **fields):
    return client.post(
        "/api/v1/verify/", {"file": SimpleUploadedFile("upload.pdf", data), **fields}, format="multipart"
    )


@pytest.mark.hsm
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_api_verdicts_on_a_dsign_document_its_changes_and_bad_uploads(dsign_signed, personas, api_for, settings):
    client = api_for(personas["auditor"])

    response = post_verify(client, dsign_signed)
    assert response.status_code == 200, response.content
    assert response.json()["valid"] is True
    assert response.json()["signatures"][0]["level"] == "B-B"

    for changed in (changed_after_signing(dsign_signed), byte_flipped(dsign_signed)):
        response = post_verify(client, changed, lang="th")
        assert response.status_code == 200
        assert response.json()["valid"] is False
        assert response.json()["problems"]

    response = post_verify(client, b"hello, not a pdf")
    assert response.status_code == 400 and response["Content-Type"].startswith("application/json")
    assert response.json()["detail"]

    response = post_verify(client, encrypted_signed_pdf(dsign_signed))
    assert response.status_code == 400 and response.json()["code"] == "encrypted"
    assert "encrypted" in response.json()["detail"]
    # with the password it opens; re-encrypting a signed file rewrote it, which the verdict must show
    response = post_verify(client, encrypted_signed_pdf(dsign_signed), password=PASSWORD)
    assert response.status_code == 200, response.content
    assert response.json()["signatures"] and response.json()["valid"] is False

    copy = encryption.document_encrypted_copy(pdf=dsign_signed, password=PASSWORD)
    response = post_verify(client, copy, password=PASSWORD)
    assert response.status_code == 200 and response.json()["valid"] is False
    assert response.json()["inner_valid"] is True and response.json()["problem_codes"] == ["wrapper"]
    assert response.json()["container"] == "encrypted_copy"

    settings.MAX_UPLOAD_BYTES = 1000
    response = post_verify(client, dsign_signed)
    assert response.status_code == 413
    assert response.json()["detail"]


@pytest.mark.django_db
def test_api_never_passes_a_corpus_file_and_never_answers_500(personas, api_for):
    client = api_for(personas["auditor"])
    for path in CORPUS_FILES:
        response = post_verify(client, path.read_bytes())
        assert response.status_code in (200, 400), (path, response.status_code, response.content[:300])
        assert response.json()["valid"] is False if response.status_code == 200 else response.json()["detail"]
