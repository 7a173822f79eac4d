"""PAdES signing against a real test PKI (certomancer TSA/OCSP/CRL on 127.0.0.1), checked
with pyHanko's validators and poppler's pdfsig/pdftotext/pdftoppm."""

from __future__ import annotations

import asyncio
import io
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pikepdf
import pytest
from certomancer.registry import KeyLabel
from PIL import Image, ImageDraw
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESPassed
from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    validate_pdf_signature,
    validate_pdf_timestamp,
)
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.policy_decl import (
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.policy_decl import REQUIRE_REVINFO, CertRevTrustPolicy
from pyhanko_certvalidator.registry import SimpleCertificateStore, SimpleTrustManager

from core.fonts import thai_font_path
from signing.appearance import Appearance, ThaiSignatureStampStyle
from signing.pades import (
    SigningInputError,
    SigningServiceUnavailable,
    add_document_timestamp,
    page_boxes,
    sign_pdf,
)
from tests.support.certomancer_pki import (  # noqa: F401 - registers the fixture
    CertomancerPKI,
    certomancer_pki_fixture,
)
from tests.support.pdfsig import assert_pdfsig_all_valid, pdfsig_report
from tests.support.thai_words import THAI_TEST_WORDS, missing_words, pdftotext

BOX_RIGHT = (330.0, 60.0, 560.0, 190.0)
BOX_LEFT = (40.0, 60.0, 270.0, 190.0)
SIGNED_AT = datetime(2026, 11, 22, 3, 15, tzinfo=UTC)  # 10:15 in Bangkok


# --- helpers ------------------------------------------------------------------------


def _memo_pdf(*, pages: tuple[tuple[float, float], ...] = ((595.0, 842.0),)) -> bytes:
    pdf = pikepdf.new()
    for size in pages:
        pdf.add_blank_page(page_size=size)
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def _handwriting_png() -> bytes:
    image = Image.new("RGBA", (400, 150), (255, 255, 255, 0))
    ImageDraw.Draw(image).line(
        [(10, 120), (80, 20), (150, 110), (220, 30), (300, 100), (390, 40)],
        fill=(0, 0, 160, 255),
        width=8,
    )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _appearance(**overrides) -> Appearance:
    values = {
        "full_name_th": "นายสมชาย ใจดี",
        "position": "ผู้อำนวยการกองคลัง",
        "acting_for": "ปฏิบัติราชการแทน ผู้อำนวยการสำนักงานปลัดกระทรวง",
        "signed_at": SIGNED_AT,
    }
    values.update(overrides)
    return Appearance(**values)


def _signatures(pdf: bytes):
    return PdfFileReader(io.BytesIO(pdf)).embedded_signatures


def _assert_pyhanko_valid(pdf: bytes, pki: CertomancerPKI, *, count: int) -> list:
    signatures = _signatures(pdf)
    assert len(signatures) == count
    statuses = []
    for embedded in signatures:
        status = validate_pdf_signature(embedded, pki.validation_context(revocation_mode="soft-fail"))
        assert status.intact and status.valid and status.trusted, status.pretty_print_details()
        assert status.bottom_line, status.pretty_print_details()
        assert embedded.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
        statuses.append(status)
    return statuses


def _pdfsig(pdf: bytes, pki: CertomancerPKI, tmp_path: Path) -> str:
    path = tmp_path / "signed.pdf"
    path.write_bytes(pdf)
    return pdfsig_report(path, [pki.root_cert.dump()], tmp_path)


def _exception_chain(exc: BaseException) -> list[BaseException]:
    chain = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


def _revisions(pdf: bytes) -> int:
    return PdfFileReader(io.BytesIO(pdf)).xrefs.total_revisions


def _lta_spec(pki: CertomancerPKI) -> PdfSignatureValidationSpec:
    return PdfSignatureValidationSpec(
        SignatureValidationSpec(
            cert_validation_policy=CertValidationPolicySpec(
                trust_manager=SimpleTrustManager.build(trust_roots=[pki.root_cert]),
                revinfo_policy=CertRevTrustPolicy(revocation_checking_policy=REQUIRE_REVINFO),
            ),
            revinfo_gathering_policy=RevocationInfoGatheringSpec(
                online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY
            ),
        )
    )


# --- B-B: two visible signatures ----------------------------------------------------


def test_second_signer_in_another_box_keeps_first_signature_valid(certomancer_pki, tmp_path):
    pki = certomancer_pki
    original = _memo_pdf()

    first = sign_pdf(
        pdf=original,
        signer=pki.signer("signer1"),
        field_name="Sig1",
        page=0,
        box=BOX_RIGHT,
        appearance=_appearance(),
        level="B-B",
        reason="อนุมัติ",
        location="กรุงเทพมหานคร",
    )
    second = sign_pdf(
        pdf=first,
        signer=pki.signer("signer2"),
        field_name="Sig2",
        page=0,
        box=BOX_LEFT,
        appearance=_appearance(
            full_name_th="นางสมหญิง รักงาน",
            position="หัวหน้าฝ่ายบริหารทั่วไป",
            acting_for=None,
            handwritten_png=_handwriting_png(),
        ),
        level="B-B",
    )

    # Each signature is one incremental update on top of the bytes it was given.
    assert first.startswith(original) and second.startswith(first)
    assert _revisions(first) == _revisions(original) + 1
    assert _revisions(second) == _revisions(first) + 1
    first_status, second_status = _assert_pyhanko_valid(second, pki, count=2)
    assert first_status.signing_cert.subject.native["common_name"] == "สมชาย ใจดี"
    assert second_status.signing_cert.subject.native["common_name"] == "สมหญิง รักงาน"
    assert first_status.modification_level.name == "FORM_FILLING"
    assert _signatures(second)[0].sig_object["/Reason"] == "อนุมัติ"

    report = _pdfsig(second, pki, tmp_path)
    assert_pdfsig_all_valid(report, expected_count=2)


def test_tampering_after_signing_is_detected_by_both_verifiers(certomancer_pki, tmp_path):
    pki = certomancer_pki
    signed = bytearray(
        sign_pdf(
            pdf=_memo_pdf(),
            signer=pki.signer("signer1"),
            field_name="Sig1",
            box=BOX_RIGHT,
            appearance=_appearance(),
        )
    )
    # Flip one byte inside the signed range (the page's MediaBox number).
    at = signed.index(b"/MediaBox")
    signed[at + 12] = ord("9") if signed[at + 12] != ord("9") else ord("8")

    status = validate_pdf_signature(_signatures(bytes(signed))[0], pki.validation_context())
    assert not status.intact
    report = _pdfsig(bytes(signed), pki, tmp_path)
    assert "Signature is Valid." not in report


def test_visible_stamp_has_shaped_thai_text_in_the_box(certomancer_pki, tmp_path):
    pki = certomancer_pki
    signed = sign_pdf(
        pdf=_memo_pdf(),
        signer=pki.signer("signer1"),
        field_name="Sig1",
        box=BOX_RIGHT,
        appearance=_appearance(handwritten_png=_handwriting_png()),
    )
    path = tmp_path / "stamp.pdf"
    path.write_bytes(signed)

    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in (
        "(นายสมชาย ใจดี)",
        "ผู้อำนวยการกองคลัง",
        "ปฏิบัติราชการแทน ผู้อำนวยการสำนักงานปลัดกระทรวง",
        "ลงนามเมื่อ 22 พฤศจิกายน 2569 เวลา 10:15 น.",
    ):
        assert line in text, text

    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    assert "Sarabun-Regular" in fonts and "CID TrueType" in fonts, fonts

    subprocess.run(["pdftoppm", "-png", "-r", "100", str(path), str(tmp_path / "page")], check=True)
    page = Image.open(tmp_path / "page-1.png").convert("L")
    scale = 100 / 72
    x1, y1, x2, y2 = BOX_RIGHT
    height = page.height
    inside = page.crop(
        (
            int(x1 * scale),
            int(height - y2 * scale),
            int(x2 * scale),
            int(height - y1 * scale),
        )
    )
    outside = page.crop((0, 0, page.width, int(height - y2 * scale) - 2))
    assert inside.getextrema()[0] < 100, "stamp box is blank"
    assert outside.getextrema()[0] > 250, "something was drawn outside the stamp box"


def test_sarabun_is_preferred_and_laksaman_fallback_draws_the_stamp(certomancer_pki, tmp_path):
    assert thai_font_path().name == "Sarabun-Regular.ttf"
    laksaman = Path("/usr/share/fonts/truetype/tlwg/Laksaman.ttf")
    if not laksaman.is_file():
        pytest.skip("fonts-tlwg-laksaman-ttf is not installed")
    writer = IncrementalPdfFileWriter(io.BytesIO(_memo_pdf()))
    output = PdfSigner(
        PdfSignatureMetadata(field_name="Sig1", subfilter=SigSeedSubFilter.PADES),
        certomancer_pki.signer(),
        stamp_style=ThaiSignatureStampStyle(appearance=_appearance(), font_file=str(laksaman)),
        new_field_spec=SigFieldSpec(sig_field_name="Sig1", box=BOX_RIGHT),
    ).sign_pdf(writer)
    path = tmp_path / "laksaman.pdf"
    path.write_bytes(output.getvalue())
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "Laksaman" in fonts, fonts
    assert "ผู้อำนวยการกองคลัง" in text, text


def test_invisible_signature_has_no_widget_area(certomancer_pki):
    pki = certomancer_pki
    signed = sign_pdf(pdf=_memo_pdf(), signer=pki.signer("signer1"), field_name="Hidden", box=None)
    (embedded,) = _signatures(signed)
    rect = [float(v) for v in embedded.sig_field["/Rect"]]
    assert rect == [0, 0, 0, 0]
    _assert_pyhanko_valid(signed, pki, count=1)


# --- timestamped and long-term levels -------------------------------------------------


def test_b_t_carries_a_trusted_signature_timestamp_from_the_tsa(certomancer_pki, tmp_path):
    pki = certomancer_pki
    before = datetime.now(tz=UTC) - timedelta(seconds=5)
    signed = sign_pdf(
        pdf=_memo_pdf(),
        signer=pki.signer("signer1"),
        field_name="Sig1",
        box=BOX_RIGHT,
        appearance=_appearance(),
        level="B-T",
        timestamper=pki.timestamper(),
    )

    (status,) = _assert_pyhanko_valid(signed, pki, count=1)
    timestamp = status.timestamp_validity
    assert timestamp is not None and timestamp.intact and timestamp.valid and timestamp.trusted
    assert timestamp.timestamp >= before
    assert_pdfsig_all_valid(_pdfsig(signed, pki, tmp_path), expected_count=1)


def test_b_lt_embeds_validation_data_and_validates_with_services_down(certomancer_pki, tmp_path):
    pki = certomancer_pki
    original = _memo_pdf()
    signed = sign_pdf(
        pdf=original,
        signer=pki.signer("signer1"),
        field_name="Sig1",
        box=BOX_RIGHT,
        appearance=_appearance(),
        level="B-LT",
        timestamper=pki.timestamper(),
        validation_context=pki.validation_context(),
    )

    assert _revisions(signed) == _revisions(original) + 1
    reader = PdfFileReader(io.BytesIO(signed))
    dss = DocumentSecurityStore.read_dss(reader)
    assert dss.ocsps, "no OCSP response for the signer in the DSS"
    assert dss.crls, "no CRL for the CAs/TSA in the DSS"

    with pki.stopped():
        offline = {
            "trust_roots": [pki.root_cert],
            "allow_fetching": False,
            "revocation_mode": "hard-fail",
        }
        # Without the embedded data, hard-fail offline validation cannot succeed...
        bare = validate_pdf_signature(
            reader.embedded_signatures[0],
            pki.validation_context(allow_fetching=False, crls=[], ocsps=[]),
        )
        assert not bare.bottom_line
        # ...with it, it does.
        status = validate_pdf_signature(
            reader.embedded_signatures[0],
            dss.as_validation_context(offline),
            ts_validation_context=dss.as_validation_context(offline),
        )
        assert status.bottom_line, status.pretty_print_details()
        assert status.revocation_details is None or not status.revoked
        assert status.timestamp_validity is not None and status.timestamp_validity.trusted
    assert_pdfsig_all_valid(_pdfsig(signed, pki, tmp_path), expected_count=1)


def test_b_lta_archive_timestamp_validates_offline(certomancer_pki, tmp_path):
    pki = certomancer_pki
    signed = _memo_pdf()
    for label, field, box in (
        ("signer1", "Sig1", BOX_RIGHT),
        ("signer2", "Sig2", BOX_LEFT),
    ):
        signed = sign_pdf(
            pdf=signed,
            signer=pki.signer(label),
            field_name=field,
            box=box,
            appearance=_appearance(),
            level="B-LT",
            timestamper=pki.timestamper(),
            validation_context=pki.validation_context(),
        )

    archived = add_document_timestamp(
        pdf=signed,
        timestamper=pki.timestamper(),
        validation_context=pki.validation_context(),
    )

    assert archived.startswith(signed)
    reader = PdfFileReader(io.BytesIO(archived))
    (doc_timestamp,) = reader.embedded_timestamp_signatures
    assert doc_timestamp.sig_object["/SubFilter"] == "/ETSI.RFC3161"
    with pki.stopped():
        ts_status = validate_pdf_timestamp(
            doc_timestamp,
            DocumentSecurityStore.read_dss(reader).as_validation_context(
                {"trust_roots": [pki.root_cert], "allow_fetching": False}
            ),
        )
        assert ts_status.valid and ts_status.trusted
        for embedded in reader.embedded_regular_signatures:
            result = asyncio.run(ades_lta_validation(embedded, _lta_spec(pki)))
            assert result.ades_subindic == AdESPassed.OK, result.api_status
            assert result.oldest_evidence_record_timestamp is not None

    # pdfsig checks the two signatures; it does not implement RFC 3161 document
    # timestamps ("Unable to validate this type of signature"), pyHanko did that above.
    report = _pdfsig(archived, pki, tmp_path)
    assert report.count("Signature Validation: Signature is Valid.") == 2, report
    assert report.count("Certificate Validation: Certificate is Trusted.") == 2, report


def test_b_lta_level_signs_and_timestamps_in_one_call(certomancer_pki):
    pki = certomancer_pki
    signed = sign_pdf(
        pdf=_memo_pdf(),
        signer=pki.signer("signer1"),
        field_name="Sig1",
        box=BOX_RIGHT,
        appearance=_appearance(),
        level="B-LTA",
        timestamper=pki.timestamper(),
        validation_context=pki.validation_context(),
    )
    reader = PdfFileReader(io.BytesIO(signed))
    assert len(reader.embedded_timestamp_signatures) == 1
    with pki.stopped():
        result = asyncio.run(ades_lta_validation(reader.embedded_regular_signatures[0], _lta_spec(pki)))
    assert result.ades_subindic == AdESPassed.OK, result.api_status


# --- levels are never lowered; services down are transient ---------------------------


@pytest.mark.parametrize("level", ["B-T", "B-LT", "B-LTA"])
def test_timestamped_level_without_timestamper_is_refused(certomancer_pki, level):
    with pytest.raises(SigningInputError, match="timestamper"):
        sign_pdf(
            pdf=_memo_pdf(),
            signer=certomancer_pki.signer(),
            field_name="Sig1",
            level=level,
            validation_context=certomancer_pki.validation_context(),
        )


def test_long_term_level_without_validation_context_is_refused(certomancer_pki):
    with pytest.raises(SigningInputError, match="validation context"):
        sign_pdf(
            pdf=_memo_pdf(),
            signer=certomancer_pki.signer(),
            field_name="Sig1",
            level="B-LT",
            timestamper=certomancer_pki.timestamper(),
        )


def test_unknown_level_is_refused(certomancer_pki):
    with pytest.raises(SigningInputError, match="level"):
        sign_pdf(
            pdf=_memo_pdf(),
            signer=certomancer_pki.signer(),
            field_name="S",
            level="B-X",
        )


@pytest.mark.parametrize("level", ["B-T", "B-LT"])
def test_tsa_down_is_transient_and_leaves_the_input_untouched(certomancer_pki, level):
    pki = certomancer_pki
    original = _memo_pdf()
    snapshot = bytes(original)
    # B-T without a validation context: the TSA is the only network call.
    context = pki.validation_context() if level == "B-LT" else None
    with pki.stopped(), pytest.raises(SigningServiceUnavailable) as caught:
        sign_pdf(
            pdf=original,
            signer=pki.signer("signer1"),
            field_name="Sig1",
            box=BOX_RIGHT,
            appearance=_appearance(),
            level=level,
            timestamper=pki.timestamper(),
            validation_context=context,
        )
    assert caught.value.permanent is False
    assert original == snapshot
    if level == "B-T":
        assert any(isinstance(c, TimestampRequestError) for c in _exception_chain(caught.value))


def test_missing_revocation_data_without_fetching_is_permanent(certomancer_pki):
    pki = certomancer_pki
    with pytest.raises(SigningInputError):
        sign_pdf(
            pdf=_memo_pdf(),
            signer=pki.signer("signer1"),
            field_name="Sig1",
            level="B-LT",
            timestamper=pki.timestamper(),
            validation_context=pki.validation_context(allow_fetching=False, crls=[], ocsps=[]),
        )


@pytest.mark.parametrize("revocation_mode", ["soft-fail", "hard-fail"])
def test_ocsp_and_crl_down_is_transient_and_never_a_hollow_b_lt(certomancer_pki, revocation_mode):
    pki = certomancer_pki
    # A TSA that needs no network, so that only revocation fetching fails.
    local_tsa = DummyTimeStamper(
        tsa_cert=pki.cert("tsa"),
        tsa_key=pki.arch.key_set.get_private_key(KeyLabel("tsa")),
        certs_to_embed=SimpleCertificateStore.from_certs([pki.root_cert]),
    )
    with pki.stopped(), pytest.raises(SigningServiceUnavailable):
        sign_pdf(
            pdf=_memo_pdf(),
            signer=pki.signer("signer1"),
            field_name="Sig1",
            level="B-LT",
            timestamper=local_tsa,
            validation_context=pki.validation_context(revocation_mode=revocation_mode),
        )


def test_add_document_timestamp_with_tsa_down_is_transient(certomancer_pki):
    pki = certomancer_pki
    signed = sign_pdf(pdf=_memo_pdf(), signer=pki.signer(), field_name="Sig1")
    with pki.stopped(), pytest.raises(SigningServiceUnavailable):
        add_document_timestamp(
            pdf=signed,
            timestamper=pki.timestamper(),
            validation_context=pki.validation_context(),
        )


def test_revoked_signer_certificate_is_a_permanent_error(certomancer_pki):
    pki = certomancer_pki
    with pytest.raises(SigningInputError) as caught:
        sign_pdf(
            pdf=_memo_pdf(),
            signer=pki.signer("revoked"),
            field_name="Sig1",
            level="B-LT",
            timestamper=pki.timestamper(),
            validation_context=pki.validation_context(),
        )
    assert caught.value.permanent is True


# --- bad input ----------------------------------------------------------------------


def test_not_a_pdf_is_an_input_error(certomancer_pki):
    for junk in (b"", b"hello world", b"%PDF-1.7\n garbage without xref"):
        with pytest.raises(SigningInputError):
            sign_pdf(pdf=junk, signer=certomancer_pki.signer(), field_name="Sig1")


@pytest.mark.parametrize(
    ("page", "box", "message"),
    [
        (0, (500.0, 60.0, 700.0, 190.0), "outside"),
        (0, (40.0, -10.0, 270.0, 190.0), "outside"),
        (0, (270.0, 60.0, 40.0, 190.0), "x1 < x2"),
        (1, BOX_LEFT, "out of range"),
        (-1, BOX_LEFT, "out of range"),
    ],
)
def test_box_or_page_outside_the_document_is_an_input_error(certomancer_pki, page, box, message):
    with pytest.raises(SigningInputError, match=message):
        sign_pdf(
            pdf=_memo_pdf(),
            signer=certomancer_pki.signer(),
            field_name="Sig1",
            page=page,
            box=box,
            appearance=_appearance(),
        )


def test_signing_an_already_signed_field_is_an_input_error(certomancer_pki):
    pki = certomancer_pki
    signed = sign_pdf(pdf=_memo_pdf(), signer=pki.signer(), field_name="Sig1", box=BOX_LEFT)
    with pytest.raises(SigningInputError, match="already signed"):
        sign_pdf(pdf=signed, signer=pki.signer("signer2"), field_name="Sig1", box=BOX_RIGHT)


def test_encrypted_pdf_is_an_input_error(certomancer_pki):
    pdf = pikepdf.open(io.BytesIO(_memo_pdf()))
    out = io.BytesIO()
    pdf.save(out, encryption=pikepdf.Encryption(owner="o", user="u", R=6))
    with pytest.raises(SigningInputError, match="encrypted"):
        sign_pdf(pdf=out.getvalue(), signer=certomancer_pki.signer(), field_name="Sig1")


def test_unreadable_handwriting_image_is_an_input_error(certomancer_pki):
    with pytest.raises(SigningInputError, match="image"):
        sign_pdf(
            pdf=_memo_pdf(),
            signer=certomancer_pki.signer(),
            field_name="Sig1",
            box=BOX_LEFT,
            appearance=_appearance(handwritten_png=b"not a png"),
        )


def test_page_boxes_reports_each_page_size():
    pdf = _memo_pdf(pages=((595.0, 842.0), (842.0, 595.0), (612.0, 792.0)))
    assert page_boxes(pdf) == [(595.0, 842.0), (842.0, 595.0), (612.0, 792.0)]
    with pytest.raises(SigningInputError):
        page_boxes(b"nope")


def test_page_tree_with_a_loop_is_an_input_error():
    pdf = pikepdf.new()
    pdf.add_blank_page()
    looping = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Pages, Kids=pikepdf.Array(), Count=1))
    looping.Kids.append(looping)
    pdf.Root.Pages.Kids.append(looping)
    out = io.BytesIO()
    pdf.save(out)
    with pytest.raises(SigningInputError, match="loop"):
        page_boxes(out.getvalue())


# --- through the HSM ----------------------------------------------------------------


@pytest.mark.hsm
def test_sign_through_the_hsm_signer_validates(tmp_path):
    from core import hsm
    from tests.support.softhsm import issue, make_pki, make_token

    make_token(tmp_path)
    chain = make_pki()
    cert = issue(chain, label="head1")
    with hsm.signer(label="head1", signing_cert=cert, other_certs=[chain.issuing, chain.root]) as signer:
        signed = sign_pdf(
            pdf=_memo_pdf(),
            signer=signer,
            field_name="Sig1",
            box=BOX_RIGHT,
            appearance=_appearance(),
        )

    from pyhanko_certvalidator import ValidationContext

    (embedded,) = _signatures(signed)
    status = validate_pdf_signature(embedded, ValidationContext(trust_roots=[chain.root]))
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    (tmp_path / "hsm.pdf").write_bytes(signed)
    report = pdfsig_report(tmp_path / "hsm.pdf", [chain.root.dump()], tmp_path)
    assert_pdfsig_all_valid(report, expected_count=1)


def test_stamp_text_extracts_exactly_for_every_thai_test_word(certomancer_pki, tmp_path):
    half = len(THAI_TEST_WORDS) // 2
    signed = sign_pdf(
        pdf=_memo_pdf(),
        signer=certomancer_pki.signer("signer1"),
        field_name="Sig1",
        box=(40.0, 60.0, 560.0, 300.0),
        appearance=_appearance(
            full_name_th=" ".join(THAI_TEST_WORDS[:half]), position=" ".join(THAI_TEST_WORDS[half:])
        ),
    )
    assert missing_words(pdftotext(signed, tmp_path)) == []
