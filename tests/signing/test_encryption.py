"""Encrypted copies: they open only with the password or a recipient's key, and the signed document
inside is byte-identical, so every signature still validates."""

import datetime
import io

import pikepdf
import pytest
from asn1crypto import keys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pyhanko.pdf_utils.crypt import SimpleEnvelopeKeyDecrypter
from pyhanko.pdf_utils.reader import PdfFileReader

from signing import encryption
from signing.verification import EncryptedPDF, verify_pdf_bytes
from tests.signing.test_verification_unit import _asn1_cert, _blank_pdf, _name, _sign, pki  # noqa: F401

PASSWORD = "รหัส-ลับ 2569"


@pytest.fixture(scope="module")
def signed(pki):  # noqa: F811
    return _sign(data=_sign(data=_blank_pdf(), signer=pki["signer"]), signer=pki["signer"], field="Sig2")


def _recipient(kind: str, *, usage: str | None = None):
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if kind == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    usage = usage or ("key_encipherment" if kind == "rsa" else "key_agreement")
    flags = dict.fromkeys(
        [
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ],
        False,
    )
    flags[usage] = True
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"Recipient {kind}"))
        .issuer_name(_name(f"Recipient {kind}"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.KeyUsage(**flags), critical=True)
        .sign(key, hashes.SHA256())
    )
    private = keys.PrivateKeyInfo.load(
        key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return _asn1_cert(cert), private


def test_password_copy_is_aes256_and_opens_only_with_the_password(signed):
    wrapped = encryption.document_encrypted_copy(pdf=signed, password=PASSWORD)

    with pytest.raises(pikepdf.PasswordError):
        pikepdf.open(io.BytesIO(wrapped))
    with pytest.raises(pikepdf.PasswordError):
        pikepdf.open(io.BytesIO(wrapped), password="wrong")
    with pikepdf.open(io.BytesIO(wrapped), password=PASSWORD) as pdf:
        assert pdf.encryption.R == 6 and pdf.encryption.bits == 256
        assert pdf.encryption.stream_method == pikepdf.models.encryption.EncryptionMethod.aesv3
        assert pdf.attachments["signed-document.pdf"].get_file().read_bytes() == signed
        assert pdf.Root.Collection.D == "signed-document.pdf"
    assert signed not in wrapped  # the signed bytes are not readable without the key


def test_signatures_inside_the_password_copy_validate(pki, signed):  # noqa: F811
    wrapped = encryption.encrypt_with_password(pdf=signed, user_password=PASSWORD, owner_password="owner-only")
    inner = encryption.extract_signed_document(wrapper=wrapped, password=PASSWORD)
    assert inner == signed
    report = verify_pdf_bytes(data=inner, trust_roots=[pki["root"]])
    assert report["valid"] is True, report
    assert len(report["signatures"]) == 2
    with pytest.raises(encryption.EncryptionInputError):
        encryption.extract_signed_document(wrapper=wrapped, password="wrong")


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_recipient_copy_decrypts_with_the_recipients_key_and_signatures_validate(pki, signed, kind):  # noqa: F811
    cert, private = _recipient(kind)
    other_cert, other_private = _recipient(kind)
    wrapped = encryption.document_encrypted_copy(pdf=signed, recipients=[cert])

    reader = PdfFileReader(io.BytesIO(wrapped))
    assert reader.encrypted
    assert reader.security_handler.get_name() == "/Adobe.PubSec"
    inner = encryption.extract_signed_document(
        wrapper=wrapped, decrypter=SimpleEnvelopeKeyDecrypter(cert=cert, private_key=private)
    )
    assert inner == signed
    assert verify_pdf_bytes(data=inner, trust_roots=[pki["root"]])["valid"] is True
    with pytest.raises(Exception):  # noqa: B017 - any failure will do: the key is not a recipient's
        encryption.extract_signed_document(
            wrapper=wrapped, decrypter=SimpleEnvelopeKeyDecrypter(cert=other_cert, private_key=other_private)
        )


def test_a_signing_only_certificate_is_refused_as_a_recipient(signed):
    cert, _ = _recipient("rsa", usage="content_commitment")
    with pytest.raises(encryption.EncryptionInputError, match="not for encryption"):
        encryption.encrypt_for_recipients(pdf=signed, recipients=[cert])


def test_bad_requests_are_refused(signed):
    with pytest.raises(encryption.EncryptionInputError):
        encryption.document_encrypted_copy(pdf=signed)
    with pytest.raises(encryption.EncryptionInputError):
        encryption.document_encrypted_copy(pdf=b"not a pdf", password=PASSWORD)
    with pytest.raises(encryption.EncryptionInputError):
        encryption.encrypt_with_password(pdf=signed, user_password="")


def test_verifying_an_encrypted_copy_without_the_password_says_it_is_encrypted(pki, signed):  # noqa: F811
    wrapped = encryption.encrypt_with_password(pdf=signed, user_password=PASSWORD)
    with pytest.raises(EncryptedPDF, match="encrypted"):
        verify_pdf_bytes(data=wrapped, trust_roots=[pki["root"]])


def test_verifying_the_password_copy_with_its_password_verifies_the_signed_document_inside(pki, signed):  # noqa: F811
    wrapped = encryption.encrypt_with_password(pdf=signed, user_password=PASSWORD)
    report = verify_pdf_bytes(data=wrapped, trust_roots=[pki["root"]], password=PASSWORD)
    # the wrapper is not what was signed (issue 17, class 5): never valid itself, the inside is reported
    assert report["valid"] is False and report["inner_valid"] is True, report
    assert report["problem_codes"] == ["wrapper"]
    assert report["container"] == "encrypted_copy"
    assert len(report["signatures"]) == 2
    with pytest.raises(EncryptedPDF):
        verify_pdf_bytes(data=wrapped, trust_roots=[pki["root"]], password="wrong")
