"""Strict verification of documents we sign ourselves: valid, tampered, untrusted and hostile."""

import datetime
import zlib
from io import BytesIO

import pikepdf
import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.messages import LANGUAGES, MESSAGES, problem_text
from signing.verification import EncryptedPDF, UnreadablePDF, verify_pdf_bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "TH"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dsign test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _make_root(common_name: str):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _make_signer_cert(*, root_key, root_cert, common_name: str):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(root_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    return key, cert


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def simple_signer(*, root_name: str, common_name: str) -> tuple[asn1_x509.Certificate, signers.SimpleSigner]:
    """A fresh root and a pyHanko signer whose certificate it issued (keys in memory, not in the token)."""
    root_key, root_cert = _make_root(root_name)
    key, cert = _make_signer_cert(root_key=root_key, root_cert=root_cert, common_name=common_name)
    signer = signers.SimpleSigner(
        signing_cert=_asn1_cert(cert),
        signing_key=asn1_keys.PrivateKeyInfo.load(
            key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        ),
        cert_registry=SimpleCertificateStore.from_certs([_asn1_cert(root_cert)]),
    )
    return _asn1_cert(root_cert), signer


@pytest.fixture(scope="module")
def pki():
    root_key, root_cert = _make_root("dsign Test Root")
    signer_key, signer_cert = _make_signer_cert(root_key=root_key, root_cert=root_cert, common_name="Somchai Jaidee")
    _, other_root = _make_root("Somebody Else's Root")
    key_info = asn1_keys.PrivateKeyInfo.load(
        signer_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    signer = signers.SimpleSigner(
        signing_cert=_asn1_cert(signer_cert),
        signing_key=key_info,
        cert_registry=SimpleCertificateStore.from_certs([_asn1_cert(root_cert)]),
    )
    return {
        "root": _asn1_cert(root_cert),
        "other_root": _asn1_cert(other_root),
        "signer": signer,
    }


def _blank_pdf(pages: int = 1) -> bytes:
    pdf = pikepdf.new()
    for _ in range(pages):
        pdf.add_blank_page(page_size=(595, 842))
    out = BytesIO()
    pdf.save(out)
    return out.getvalue()


def _sign(*, data: bytes, signer, field: str = "Sig1") -> bytes:
    writer = IncrementalPdfFileWriter(BytesIO(data))
    out = BytesIO()
    signers.sign_pdf(
        writer,
        signers.PdfSignatureMetadata(field_name=field, subfilter=None),
        signer=signer,
        output=out,
    )
    return out.getvalue()


@pytest.fixture(scope="module")
def signed_pdf(pki) -> bytes:
    return _sign(data=_blank_pdf(), signer=pki["signer"])


def _only_signature(report: dict) -> dict:
    assert len(report["signatures"]) == 1, report
    return report["signatures"][0]


def test_freshly_signed_document_is_valid_at_level_b_b(pki, signed_pdf):
    report = verify_pdf_bytes(data=signed_pdf, trust_roots=[pki["root"]])

    assert report["valid"] is True, report
    assert report["status"] == "valid"
    assert report["problems"] == []
    signature = _only_signature(report)
    assert signature["field"] == "Sig1"
    assert signature["signer"] == "Somchai Jaidee"
    assert signature["intact"] is True
    assert signature["trusted"] is True
    assert signature["revoked"] is False
    assert signature["timestamp"] is None
    assert signature["level"] == "B-B"
    assert signature["coverage"] == "entire_file"
    assert signature["modifications"] == "none"
    assert signature["valid"] is True
    assert signature["problems"] == []
    assert datetime.datetime.fromisoformat(signature["signed_at"])


def test_second_signature_by_incremental_update_keeps_both_valid(pki, signed_pdf):
    twice = _sign(data=signed_pdf, signer=pki["signer"], field="Sig2")

    report = verify_pdf_bytes(data=twice, trust_roots=[pki["root"]])

    assert report["valid"] is True, report
    first, second = report["signatures"]
    assert first["coverage"] == "entire_revision"
    assert first["modifications"] in ("none", "form_filling")
    assert second["coverage"] == "entire_file"


def test_one_byte_changed_in_signed_range_is_not_intact(pki, signed_pdf):
    tampered = bytearray(signed_pdf)
    # the binary comment on the header's second line: inside the signed range, harmless to parsers
    position = signed_pdf.index(b"\n") + 2
    tampered[position] ^= 0x01

    report = verify_pdf_bytes(data=bytes(tampered), trust_roots=[pki["root"]])

    assert report["valid"] is False
    assert report["status"] == "invalid"
    signature = _only_signature(report)
    assert signature["intact"] is False
    assert signature["valid"] is False
    assert "not_intact" in signature["problem_codes"]


def test_page_appended_by_incremental_update_is_a_modification(pki, signed_pdf):
    writer = IncrementalPdfFileWriter(BytesIO(signed_pdf))
    page = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Page"),
            generic.pdf_name("/MediaBox"): generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 595, 842)]),
        }
    )
    writer.insert_page(page)
    out = BytesIO()
    writer.write(out)

    report = verify_pdf_bytes(data=out.getvalue(), trust_roots=[pki["root"]])

    assert report["valid"] is False
    signature = _only_signature(report)
    assert signature["intact"] is True
    assert signature["coverage"] == "entire_revision"
    assert signature["modifications"] == "other"
    assert signature["valid"] is False
    assert "modified_other" in signature["problem_codes"]
    assert "changed_after_last" in report["problem_codes"]


def test_bytes_appended_after_eof_make_coverage_partial(pki, signed_pdf):
    report = verify_pdf_bytes(data=signed_pdf + b"\n<< /Evil (payload) >>\n", trust_roots=[pki["root"]])

    assert report["valid"] is False
    signature = _only_signature(report)
    assert signature["intact"] is True
    assert signature["coverage"] == "partial"
    assert signature["valid"] is False
    assert "trailing_data" in signature["problem_codes"]


def test_signer_outside_trust_roots_is_intact_but_untrusted(pki, signed_pdf):
    report = verify_pdf_bytes(data=signed_pdf, trust_roots=[pki["other_root"]])

    assert report["valid"] is False
    assert report["status"] == "invalid"
    signature = _only_signature(report)
    assert signature["intact"] is True
    assert signature["trusted"] is False
    assert signature["valid"] is False
    assert signature["problem_codes"] == ["untrusted"]


def test_problems_are_reported_in_thai_when_asked(pki, signed_pdf):
    report = verify_pdf_bytes(data=signed_pdf, trust_roots=[pki["other_root"]], lang="th")

    signature = _only_signature(report)
    assert signature["problems"] == [MESSAGES["untrusted"]["th"]]
    assert report["problems"] == [problem_text(code="signature_problem", lang="th", detail="Sig1")]


def test_document_without_signatures_is_not_valid(pki):
    report = verify_pdf_bytes(data=_blank_pdf(), trust_roots=[pki["root"]])

    assert report["valid"] is False
    assert report["signatures"] == []
    assert report["problem_codes"] == ["no_signatures"]
    assert report["problems"] == ["The document has no signatures."]


def test_garbage_is_unreadable(pki):
    with pytest.raises(UnreadablePDF):
        verify_pdf_bytes(data=b"this is not a PDF at all\n" * 10, trust_roots=[pki["root"]])


def test_encrypted_document_asks_for_the_password(pki):
    pdf = pikepdf.open(BytesIO(_blank_pdf()))
    out = BytesIO()
    pdf.save(out, encryption=pikepdf.Encryption(user="secret", owner="owner-secret"))

    with pytest.raises(EncryptedPDF, match="supply the password"):
        verify_pdf_bytes(data=out.getvalue(), trust_roots=[pki["root"]])


def _pdf_with_xref_stream(
    *, catalog_extra: bytes = b"", xref_payload_filter: bytes = b"", xref_stream_data: bytes | None = None
) -> bytes:
    """A hand-built PDF whose cross-reference stream may be replaced by hostile data."""
    header = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    objects = [
        b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R" + catalog_extra + b" >>\nendobj\n",
        b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n",
    ]
    offsets = []
    body = header
    for obj in objects:
        offsets.append(len(body))
        body += obj
    xref_offset = len(body)
    if xref_stream_data is None:
        rows = b"\x00\x00\x00\x00\x00\xff\xff"
        for offset in offsets:
            rows += b"\x01" + offset.to_bytes(4, "big") + b"\x00\x00"
        rows += b"\x01" + xref_offset.to_bytes(4, "big") + b"\x00\x00"
        xref_stream_data = rows
    body += (
        b"3 0 obj\n<< /Type /XRef /Size 4 /W [1 4 2] /Root 1 0 R"
        + xref_payload_filter
        + b" /Length "
        + str(len(xref_stream_data)).encode()
        + b" >>\nstream\n"
        + xref_stream_data
        + b"\nendstream\nendobj\nstartxref\n"
        + str(xref_offset).encode()
        + b"\n%%EOF\n"
    )
    return body


def test_hand_built_pdf_helper_is_readable(pki):
    # guards the two hostile tests below: without the hostile part the file is a plain PDF
    report = verify_pdf_bytes(data=_pdf_with_xref_stream(), trust_roots=[pki["root"]])

    assert report["problem_codes"] == ["no_signatures"]


def test_decompression_bomb_ends_indeterminate_within_limits(pki):
    # 2 GiB of zeros, deflated twice: a ~25 kB file that the reader must inflate to parse it
    inner = zlib.compressobj(1)
    chunk = bytes(64 << 20)
    inflated_once = b"".join(inner.compress(chunk) for _ in range(32)) + inner.flush()
    bomb = zlib.compress(inflated_once, 9)
    data = _pdf_with_xref_stream(xref_payload_filter=b" /Filter [/FlateDecode /FlateDecode]", xref_stream_data=bomb)
    assert len(data) < 100_000

    report = verify_pdf_bytes(data=data, trust_roots=[pki["root"]], timeout_s=30)

    assert report["valid"] is False
    assert report["status"] == "indeterminate"
    assert report["problem_codes"][0] in ("too_complex", "timeout"), report


def test_deeply_nested_structure_ends_indeterminate(pki):
    depth = 200_000
    data = _pdf_with_xref_stream(catalog_extra=b" /Deep " + b"[" * depth + b"]" * depth)

    report = verify_pdf_bytes(data=data, trust_roots=[pki["root"]])

    assert report["valid"] is False
    assert report["status"] == "indeterminate", report
    assert report["problem_codes"][0] in ("too_complex", "damaged_document", "timeout")


def test_worker_hitting_the_memory_limit_is_indeterminate(pki, signed_pdf):
    # 64 MiB of address space is not even enough to import pyHanko: the child dies of MemoryError
    report = verify_pdf_bytes(data=signed_pdf, trust_roots=[pki["root"]], memory_limit_bytes=64 << 20)

    assert report["valid"] is False
    assert report["status"] == "indeterminate"
    assert report["problem_codes"] == ["too_complex"]


def _pdf_with_many_objects(count: int) -> bytes:
    """A well-formed PDF whose `count` unused objects the verifier still reads: seconds of parsing."""
    body = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"] + [b"[1 2 3]"] * count
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(offsets) + 1, xref)
    return bytes(body)


def test_wall_clock_timeout_kills_the_worker_and_reports_it(pki):
    data = _pdf_with_many_objects(50_000)  # about 5 s of work for the verifier
    verify_pdf_bytes(data=_blank_pdf(), trust_roots=[pki["root"]])  # the verifier is running

    report = verify_pdf_bytes(data=data, trust_roots=[pki["root"]], timeout_s=0.5)

    assert report["valid"] is False
    assert report["status"] == "indeterminate"
    assert report["problem_codes"] == ["timeout"]


def test_every_problem_has_english_and_thai_text():
    for code, texts in MESSAGES.items():
        assert set(texts) == set(LANGUAGES), code
        assert all(text.strip() for text in texts.values()), code
    assert problem_text(code="encrypted", lang="xx") == MESSAGES["encrypted"]["en"]
