"""The HSM module against a real SoftHSM token: key protection, the pool across forks, signing."""

from __future__ import annotations

import io
import multiprocessing
import threading

import pikepdf
import pytest
from asn1crypto import keys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from core import hsm
from tests.support.pdfsig import assert_pdfsig_all_valid, pdfsig_report
from tests.support.softhsm import MODULE_PATH, SO_PIN, issue, make_pki, make_token

pytestmark = pytest.mark.hsm


@pytest.fixture
def token(tmp_path):
    return make_token(tmp_path)


def _verify(public_key: keys.PublicKeyInfo, signature: bytes, data: bytes) -> None:
    loaded = serialization.load_der_public_key(public_key.dump())
    if isinstance(loaded, rsa.RSAPublicKey):
        loaded.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    else:
        loaded.verify(signature, data, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("algorithm", ["rsa2048", "ec-p256"])
def test_generated_private_key_is_sensitive_and_cannot_be_read(token, algorithm):
    hsm.key_generate(label="k", algorithm=algorithm)

    attributes = hsm.key_attributes(label="k")

    assert attributes["token"] is True
    assert attributes["sensitive"] is True
    assert attributes["extractable"] is False
    assert attributes["always_sensitive"] is True
    assert attributes["never_extractable"] is True
    assert attributes["secret_readable"] is False


@pytest.mark.parametrize(
    ("algorithm", "expected_algorithm"),
    [("rsa2048", "sha256_rsa"), ("rsa3072", "sha256_rsa"), ("ec-p256", "sha256_ecdsa")],
)
def test_sign_raw_signature_verifies_with_the_public_key(token, algorithm, expected_algorithm):
    public_key = hsm.key_generate(label="k", algorithm=algorithm)
    data = "บันทึกข้อความ".encode() * 100

    signature = hsm.sign_raw(label="k", data=data)

    _verify(public_key, signature, data)
    with pytest.raises(InvalidSignature):
        _verify(public_key, signature, data + b"x")
    assert hsm.signature_algorithm_for("k") == expected_algorithm
    assert hsm.key_public(label="k").dump() == public_key.dump()


def test_key_lifecycle_and_missing_key_is_permanent_error(token):
    assert not hsm.key_exists(label="k")
    hsm.key_generate(label="k", algorithm="ec-p256")
    assert hsm.key_exists(label="k")
    with pytest.raises(hsm.HSMError):
        hsm.key_generate(label="k")

    hsm.key_delete(label="k")

    assert not hsm.key_exists(label="k")
    with pytest.raises(hsm.KeyNotFound):
        hsm.sign_raw(label="k", data=b"data")
    with pytest.raises(hsm.KeyNotFound):
        hsm.key_public(label="k")
    with pytest.raises(hsm.KeyNotFound):
        hsm.key_delete(label="k")


def _delete_key(label: str, config: hsm.HSMConfig, queue) -> None:
    hsm.configure(config)
    hsm.key_delete(label=label)
    queue.put("deleted")


def test_a_key_remembered_by_this_process_and_deleted_elsewhere_is_missing_not_broken(token):
    # This process looks a key up once per session (the found object is remembered); another process
    # deleting the key must still make the next signature here a KeyNotFound, as before the cache.
    hsm.key_generate(label="gone", algorithm="ec-p256")
    hsm.key_generate(label="kept", algorithm="ec-p256")
    hsm.sign_raw(label="gone", data=b"first")
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_delete_key, args=("gone", token, queue))
    child.start()
    assert queue.get(timeout=120) == "deleted"
    child.join(timeout=30)

    with pytest.raises(hsm.KeyNotFound):
        hsm.sign_raw(label="gone", data=b"after")
    kept = hsm.key_public(label="kept")
    _verify(kept, hsm.sign_raw(label="kept", data=b"still"), b"still")
    hsm.key_delete(label="kept")  # deleted here: forgotten at once
    with pytest.raises(hsm.KeyNotFound):
        hsm.sign_raw(label="kept", data=b"no")


@pytest.mark.parametrize("algorithm", ["rsa", "ec"])
def test_imported_key_signs_and_is_no_longer_extractable(token, algorithm):
    if algorithm == "rsa":
        software_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        software_key = ec.generate_private_key(ec.SECP256R1())
    private_info = keys.PrivateKeyInfo.load(
        software_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    expected_public = software_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    public_key = hsm.key_import(label="imported", private_key=private_info)

    assert public_key.dump() == expected_public
    assert hsm.key_public(label="imported").dump() == expected_public
    _verify(public_key, hsm.sign_raw(label="imported", data=b"memo"), b"memo")
    attributes = hsm.key_attributes(label="imported")
    assert attributes["sensitive"] is True
    assert attributes["extractable"] is False
    assert attributes["secret_readable"] is False


def test_unknown_token_is_reported_unavailable(token):
    hsm.configure(hsm.HSMConfig(module_path=MODULE_PATH, token_label="no-such-token", user_pin="1234"))

    with pytest.raises(hsm.HSMUnavailable):
        hsm.sign_raw(label="k", data=b"data")
    report = hsm.health()
    assert report["token_present"] is False
    assert report["error"]


def test_wrong_pin_is_a_permanent_error(token):
    hsm.configure(hsm.HSMConfig(module_path=MODULE_PATH, token_label=token.token_label, user_pin="0000"))

    with pytest.raises(hsm.HSMError) as caught:
        hsm.key_exists(label="k")
    assert not isinstance(caught.value, hsm.HSMUnavailable)


def test_token_ensure_creates_a_missing_softhsm_token_once(token):
    config = hsm.HSMConfig(module_path=MODULE_PATH, token_label="second", user_pin="4321", so_pin=SO_PIN)

    assert hsm.token_ensure(config) is True
    assert hsm.token_ensure(config) is False
    hsm.configure(config)
    public_key = hsm.key_generate(label="k", algorithm="ec-p256")
    _verify(public_key, hsm.sign_raw(label="k", data=b"x"), b"x")


def test_health_reports_token_login_and_free_sessions(token):
    report = hsm.health()

    assert report["token_present"] is True
    assert report["login_ok"] is True
    assert report["free_sessions"] == token.pool_size
    assert report["error"] is None


def test_pool_lends_at_most_pool_size_sessions(token, monkeypatch):
    hsm.configure(
        hsm.HSMConfig(
            module_path=MODULE_PATH,
            token_label=token.token_label,
            user_pin="1234",
            pool_size=2,
        )
    )
    monkeypatch.setattr(hsm.pool, "_BORROW_TIMEOUT_SECONDS", 0.3)
    outcome = {}

    def third_borrower():
        try:
            with hsm.session():
                outcome["third"] = "borrowed"
        except hsm.HSMUnavailable:
            outcome["third"] = "unavailable"

    with hsm.session() as first, hsm.session() as second:
        assert first is not second
        thread = threading.Thread(target=third_borrower)
        thread.start()
        thread.join()
    assert outcome["third"] == "unavailable"

    # Returned sessions are reused, not re-opened.
    with hsm.session() as again:
        assert again in (first, second)


def _sign_many(label: str, count: int, queue, config: hsm.HSMConfig | None = None) -> None:
    try:
        if config is not None:  # a spawned child starts without the parent's configuration
            hsm.configure(config)
        queue.put([hsm.sign_raw(label=label, data=f"doc-{index}".encode()) for index in range(count)])
    except hsm.HSMError as exc:  # reported to the parent, which fails the test
        queue.put(exc)


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_processes_sign_concurrently_and_every_signature_verifies(token, start_method):
    public_key = hsm.key_generate(label="shared", algorithm="ec-p256")
    # The parent uses its pool first, so the children inherit live library state and sessions.
    _verify(public_key, hsm.sign_raw(label="shared", data=b"parent"), b"parent")
    context = multiprocessing.get_context(start_method)
    queue = context.Queue()
    child_config = token if start_method == "spawn" else None
    processes = [context.Process(target=_sign_many, args=("shared", 20, queue, child_config)) for _ in range(4)]
    for process in processes:
        process.start()
    results = [queue.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0

    for signatures in results:
        assert not isinstance(signatures, Exception), signatures
        assert len(signatures) == 20
        for index, signature in enumerate(signatures):
            _verify(public_key, signature, f"doc-{index}".encode())
    # The parent's own pool is unaffected by what the children did.
    _verify(public_key, hsm.sign_raw(label="shared", data=b"after"), b"after")


def _blank_pdf() -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def test_signer_outside_a_session_is_refused(token):
    chain = make_pki()
    cert = issue(chain, label="alice")
    with pytest.raises(hsm.HSMError):
        hsm.pyhanko_signer(label="alice", signing_cert=cert, other_certs=[chain.issuing])
    with (
        pytest.raises(hsm.KeyNotFound),
        hsm.signer(label="nobody", signing_cert=cert, other_certs=[]),
    ):
        pass


@pytest.mark.parametrize("algorithm", ["rsa2048", "ec-p256"])
def test_pdf_signed_with_token_key_validates_in_pyhanko_and_pdfsig(token, tmp_path, algorithm):
    chain = make_pki()
    cert = issue(chain, label="signer", algorithm=algorithm)
    writer = IncrementalPdfFileWriter(io.BytesIO(_blank_pdf()))

    with hsm.signer(label="signer", signing_cert=cert, other_certs=[chain.issuing]) as pdf_signer:
        signed = signers.sign_pdf(writer, signers.PdfSignatureMetadata(field_name="Sig1"), signer=pdf_signer)

    reader = PdfFileReader(signed)
    context = ValidationContext(trust_roots=[chain.root], allow_fetching=False, revocation_mode="soft-fail")
    status = validate_pdf_signature(reader.embedded_signatures[0], context)
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.signing_cert.subject.native["common_name"] == "signer"
    assert status.signing_cert.subject.native["organizational_unit_name"] == "ฝ่ายบัญชี"

    untrusted = validate_pdf_signature(
        reader.embedded_signatures[0],
        ValidationContext(trust_roots=[], allow_fetching=False, revocation_mode="soft-fail"),
    )
    assert not untrusted.trusted

    pdf_path = tmp_path / "signed.pdf"
    pdf_path.write_bytes(signed.getvalue())
    assert_pdfsig_all_valid(pdfsig_report(pdf_path, [chain.root.dump()], tmp_path), expected_count=1)
