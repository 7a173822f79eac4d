"""PDF/A-3 archive copies: the record is embedded as associated files, signatures keep validating, and
the verifier's archive rule accepts exactly that update and nothing resembling an attack."""

import hashlib
import io
from datetime import UTC, datetime, timedelta

import pikepdf
import pytest
from lxml import etree
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.embed import EmbeddedFileObject, FileSpec, embed_file
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from signing import archive
from signing.verification import verify_pdf_bytes
from tests.signing.test_verification_unit import _blank_pdf, _sign, pki  # noqa: F401 - fixture

RECORD = {
    "summary": "บันทึกข้อความ ขออนุมัติ — approved by 2 signers",
    "document": {"id": 7, "title": "บันทึกข้อความ ขออนุมัติจัดซื้อ", "template": "memo-2-tier"},
    "tiers": [{"order": 1, "quorum": 1, "decisions": [{"signer": "head1", "decision": "approved"}]}],
    "signers": [{"username": "head1", "full_name_th": "นายสมชาย รักงาน", "field": "Sig1", "level": "B-B"}],
    "certificates": [
        {
            "serial": "1f",
            "subject": "CN=Somchai Jaidee",
            "issuer": "CN=dsign Test Root",
            "not_before": "2026-01-01T00:00:00+00:00",
            "not_after": "2027-01-01T00:00:00+00:00",
        }
    ],
    "timestamps": [],
}


@pytest.fixture(scope="module")
def signed(pki):  # noqa: F811
    return _sign(data=_sign(data=_blank_pdf(), signer=pki["signer"]), signer=pki["signer"], field="Sig2")


@pytest.fixture(scope="module")
def archived(signed):
    return archive.archive_copy_make(pdf=signed, record=RECORD)


def test_archive_copy_is_an_incremental_update_and_every_signature_still_validates(pki, signed, archived):  # noqa: F811
    assert archived.startswith(signed)
    report = verify_pdf_bytes(data=archived, trust_roots=[pki["root"]])
    assert report["valid"] is True, report
    assert [s["valid"] for s in report["signatures"]] == [True, True]
    assert all(s["modifications"] in ("none", "form_filling") for s in report["signatures"])


def test_archive_copy_carries_the_record_as_json_and_xml_associated_files(archived):
    record = archive.archive_record_read(pdf=archived)
    assert record["pdfa"]["claimed"] == "PDF/A-3B" and record["pdfa"]["fonts_not_embedded"] == []
    assert {k: v for k, v in record.items() if k != "pdfa"} == RECORD
    with pikepdf.open(io.BytesIO(archived)) as pdf:
        af = pdf.Root.AF
        assert len(af) == 2
        by_name = {str(spec.UF): spec for spec in af}
        assert set(by_name) == {"signing-record.json", "signing-record.xml"}
        assert {str(pdf.attachments[name].filename) for name in by_name} == set(by_name)
        for name, mime in (("signing-record.json", "/application/json"), ("signing-record.xml", "/application/xml")):
            spec = by_name[name]
            assert spec.AFRelationship == "/Data"
            stream = spec.EF.F
            assert stream.Subtype == mime
            assert "/ModDate" in stream.Params
            assert stream.Params.Size == len(stream.read_bytes())
        xml = etree.fromstring(by_name["signing-record.xml"].EF.F.read_bytes())
        assert (
            xml.findtext("{urn:dsign:signing-record:1}document/{urn:dsign:signing-record:1}title")
            == RECORD["document"]["title"]
        )


def test_archive_copy_has_pdfa3_metadata_matching_info_and_an_srgb_output_intent(archived):
    with pikepdf.open(io.BytesIO(archived)) as pdf:
        assert "/Filter" not in pdf.Root.Metadata  # PDF/A: metadata stays readable without filters
        meta = pdf.open_metadata()
        assert meta["pdfaid:part"] == "3"
        assert meta["pdfaid:conformance"] == "B"
        assert meta["dc:title"] == RECORD["document"]["title"]
        assert meta["dc:description"] == RECORD["summary"]
        info = pdf.docinfo
        assert str(info.Title) == RECORD["document"]["title"]
        assert str(info.Subject) == RECORD["summary"]
        assert str(info.Producer) == meta["pdf:Producer"]
        assert str(info.Creator) == meta["xmp:CreatorTool"]
        assert "/ModDate" not in info
        intent = pdf.Root.OutputIntents[0]
        assert intent.S == "/GTS_PDFA1"
        profile = intent.DestOutputProfile
        assert profile.N == 3
        assert (
            hashlib.sha256(profile.read_bytes()).digest() == hashlib.sha256(archive.SRGB_PROFILE.read_bytes()).digest()
        )
        assert pdf.pdf_version <= "1.7"


def test_changing_the_document_after_archiving_is_caught(pki, archived):  # noqa: F811
    writer = IncrementalPdfFileWriter(io.BytesIO(archived))
    writer.root["/OpenAction"] = generic.NameObject("/Evil")
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    report = verify_pdf_bytes(data=out.getvalue(), trust_roots=[pki["root"]])
    assert report["valid"] is False
    assert "changed_after_last" in report["problem_codes"]


def _update(signed: bytes, change) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _attach(name: str, data: bytes, mime: str, relationship: str | None = "/Data"):
    def change(writer):
        stream = EmbeddedFileObject.from_file_data(writer, data=data, mime_type=mime)
        rel = generic.NameObject(relationship) if relationship else None
        embed_file(writer, FileSpec(file_spec_string=name, embedded_data=stream, af_relationship=rel))

    return change


@pytest.mark.parametrize(
    "change",
    [
        _attach("payload.exe", b"MZ\x90\x00", "application/octet-stream"),
        _attach("notes.pdf", b"%PDF-1.7 fake", "application/pdf"),
        _attach("record.json", b"{}", "application/json", relationship=None),
    ],
    ids=["executable", "pdf", "json-without-relationship"],
)
def test_other_attachments_added_after_signing_are_not_accepted(pki, signed, change):  # noqa: F811
    report = verify_pdf_bytes(data=_update(signed, change), trust_roots=[pki["root"]])
    assert report["valid"] is False, report


def test_an_exotic_output_intent_added_after_signing_is_not_accepted(pki, signed):  # noqa: F811
    def change(writer):
        profile = generic.StreamObject(
            {generic.NameObject("/N"): generic.NumberObject(3)}, stream_data=b"not srgb" * 50
        )
        writer.root["/OutputIntents"] = generic.ArrayObject(
            [
                writer.add_object(
                    generic.DictionaryObject(
                        {
                            generic.NameObject("/Type"): generic.NameObject("/OutputIntent"),
                            generic.NameObject("/S"): generic.NameObject("/GTS_PDFA1"),
                            generic.NameObject("/DestOutputProfile"): writer.add_object(profile),
                        }
                    )
                )
            ]
        )
        writer.update_root()

    report = verify_pdf_bytes(data=_update(signed, change), trust_roots=[pki["root"]])
    assert report["valid"] is False, report


def _replace_record(writer):
    tree = writer.root["/Names"]["/EmbeddedFiles"]
    stream = EmbeddedFileObject.from_file_data(writer, data=b'{"summary": "forged"}', mime_type="application/json")
    spec = FileSpec(
        file_spec_string="signing-record.json", embedded_data=stream, af_relationship=generic.NameObject("/Data")
    )
    names = tree["/Names"]
    names[1] = writer.add_object(spec.as_pdf_object())
    writer.update_container(tree)


def test_the_report_names_the_records_attached_after_each_signature(pki, archived):  # noqa: F811
    report = verify_pdf_bytes(data=archived, trust_roots=[pki["root"]], lang="th")
    for signature in report["signatures"]:
        assert signature["attachments_added"] == ["signing-record.json", "signing-record.xml"]
        assert signature["problem_codes"] == ["attachments_added"]
        assert "signing-record.json" in signature["problems"][0]


def test_a_record_replaced_after_the_archive_timestamp_is_caught(pki, archived):  # noqa: F811
    # the record itself is unsigned data; a document timestamp after archiving is what seals it
    stamped, tsa_root = _document_timestamp(archived)
    roots = [pki["root"], tsa_root]
    assert verify_pdf_bytes(data=stamped, trust_roots=roots)["valid"] is True
    report = verify_pdf_bytes(data=_update(stamped, _replace_record), trust_roots=roots)
    assert report["valid"] is False, report
    assert not report["document_timestamps"][0]["valid"]


def test_archiving_twice_refuses_a_second_record_with_the_same_name(archived):
    with pytest.raises(archive.ArchiveInputError):
        archive.archive_copy_make(pdf=archived, record=RECORD)


def test_encrypted_or_non_pdf_input_is_refused():
    with pytest.raises(archive.ArchiveInputError):
        archive.archive_copy_make(pdf=b"not a pdf", record=RECORD)


def test_record_xml_is_well_formed_for_awkward_keys():
    xml = archive.record_to_xml({"1st key": [1, True, None, {"a/b": "ไทย"}]})
    root = etree.fromstring(xml)
    assert root.tag == "{urn:dsign:signing-record:1}signingRecord"
    assert "ไทย" in xml.decode("utf-8")


def test_lta_renewal_needed_follows_the_latest_document_timestamp_certificate(signed):
    from tests.signing.test_verification_unit import _make_root

    assert archive.lta_renewal_needed(pdf=signed) is False  # no document timestamp: nothing to renew
    stamped, _ = _document_timestamp(signed)
    expiry = _tsa_expiry(stamped)
    assert archive.lta_renewal_needed(pdf=stamped, now=expiry - timedelta(days=200)) is False
    assert archive.lta_renewal_needed(pdf=stamped, now=expiry - timedelta(days=30)) is True
    assert archive.lta_renewal_needed(pdf=stamped, now=expiry - timedelta(days=30), horizon_days=10) is False
    assert _make_root  # the helper module is importable for the TSA below


def _tsa_expiry(pdf: bytes) -> datetime:
    from pyhanko.pdf_utils.reader import PdfFileReader

    return PdfFileReader(io.BytesIO(pdf)).embedded_timestamp_signatures[-1].signer_cert.not_valid_after


def _document_timestamp(pdf: bytes) -> bytes:
    from asn1crypto import keys
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from pyhanko.sign import signers, timestamps

    from tests.signing.test_verification_unit import _asn1_cert, _make_root, _name

    root_key, root_cert = _make_root("TSA Root")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Test TSA"))
        .issuer_name(root_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=400))
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    tsa = timestamps.DummyTimeStamper(
        tsa_cert=_asn1_cert(cert),
        tsa_key=keys.PrivateKeyInfo.load(
            key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        ),
    )
    out = io.BytesIO()
    signers.PdfTimeStamper(tsa).timestamp_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), "sha256", output=out)
    return out.getvalue(), _asn1_cert(root_cert)


def _helvetica_pdf() -> bytes:
    """A page that writes with base-14 Helvetica, not embedded (as word processors' quick exports do)."""
    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=(595, 842))
    font = pdf.make_indirect(
        pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
    )
    page.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    page.Contents = pdf.make_stream(b"BT /F1 12 Tf 72 720 Td (Memo) Tj ET")
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def test_a_document_with_a_font_not_embedded_is_archived_without_a_pdfa_claim(pki):  # noqa: F811
    signed = _sign(data=_helvetica_pdf(), signer=pki["signer"])
    assert archive.fonts_not_embedded(pdf=signed) == ["Helvetica"]
    copy = archive.archive_copy_make(pdf=signed, record=RECORD)
    assert copy.startswith(signed)
    with pikepdf.open(io.BytesIO(copy)) as pdf:
        meta = pdf.open_metadata()
        assert "pdfaid:part" not in meta and "pdfaid:conformance" not in meta
    record = archive.archive_record_read(pdf=copy)
    assert record["pdfa"]["claimed"] is None and record["pdfa"]["fonts_not_embedded"] == ["Helvetica"]
    # the record is still there and every signature still validates
    assert verify_pdf_bytes(data=copy, trust_roots=[pki["root"]])["valid"] is True


def test_fonts_drawn_inside_form_xobjects_and_appearances_are_checked_too():
    from signing.qr_stamp import qr_stamp

    stamped = qr_stamp(pdf=_helvetica_pdf(), url="https://dsign.example/v/abc/")
    assert archive.fonts_not_embedded(pdf=stamped) == ["Helvetica"]  # the stamp's own font is embedded
    assert archive.fonts_not_embedded(pdf=qr_stamp(pdf=_blank_pdf(), url="https://dsign.example/v/abc/")) == []
