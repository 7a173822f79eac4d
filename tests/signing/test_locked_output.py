"""Issue 17, "lock dsign's output": the document itself forbids what the verifier must refuse.

A memo routed through dsign in the test (2 of 3 heads, then the director; real SoftHSM signatures): its
first signature created every seat's signature field (head3's stays empty: not needed) and certifies the
document with DocMDP P=2 (only filling those fields, document timestamps and validation data may follow);
each seat's field carries a FieldMDP lock on itself. Checked with pyHanko's own validator (its default
difference policy, not dsign's), with poppler's pdfsig, and with dsign's verifier; then forged.
"""

from __future__ import annotations

import io
import subprocess
import tempfile
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from signing.selectors import verification_trust_roots
from tests.conftest import blank_pdf
from tests.signing import forgery_kit as kit
from tests.signing.test_forgeries import dsign_tsa, with_document_timestamp  # noqa: F401 - fixture
from tests.signing.test_verification_unit import simple_signer

pytestmark = [pytest.mark.hsm, pytest.mark.django_db]

SEATS = ["Sig1_r1", "Sig2_r1", "Sig3_r1", "Sig4_r1"]  # head1, head2, head3 (not needed), director
_made: dict[str, bytes] = {}


@pytest.fixture
def completed(bb_template, api_for, personas, otp) -> bytes:
    if "memo" not in _made:
        _made["memo"] = kit.complete(api_for=api_for, personas=personas, otp=otp, pdf=blank_pdf())[1]
    return _made["memo"]


def _signatures(data: bytes):
    reader = PdfFileReader(io.BytesIO(data))
    return reader, sorted(reader.embedded_regular_signatures, key=lambda e: e.signed_revision)


def _pyhanko_status(embedded):
    """pyHanko's own verdict: its default difference policy, dsign's roots, no dsign rule involved."""
    return validate_pdf_signature(
        embedded, signer_validation_context=ValidationContext(trust_roots=verification_trust_roots())
    )


def _pdfsig(data: bytes) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "memo.pdf"
        path.write_bytes(data)
        return subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=120).stdout


def test_the_first_signature_certifies_and_each_seat_field_is_locked_to_itself(completed):
    reader, signed = _signatures(completed)
    assert [e.field_name for e in signed] == ["Sig1_r1", "Sig2_r1", "Sig4_r1"]
    first, *later = signed
    assert first.docmdp_level == fields.MDPPerm.FILL_FORMS  # certification, P=2
    assert reader.root["/Perms"].raw_get("/DocMDP").reference == first.sig_field.raw_get("/V").reference
    assert all(e.docmdp_level is None for e in later)  # approval signatures
    for embedded in signed:
        own = fields.FieldMDPSpec(action=fields.FieldMDPAction.INCLUDE, fields=[embedded.field_name])
        assert embedded.fieldmdp == own
        assert embedded.sig_field["/Lock"]["/Action"] == "/Include"
        transforms = [str(r["/TransformMethod"]) for r in embedded.sig_object["/Reference"]]
        assert "/FieldMDP" in transforms and (("/DocMDP" in transforms) == (embedded is first))
    # every seat's field was made by the certifying revision: none is added later
    certified = reader.get_historical_resolver(first.signed_revision)
    assert sorted(name for name, _, _ in fields.enumerate_sig_fields(certified)) == SEATS
    assert [name for name, _, _ in fields.enumerate_sig_fields(reader, filled_status=False)] == ["Sig3_r1"]


def test_the_certified_memo_is_valid_for_pyhanko_pdfsig_and_dsign(completed):
    _, signed = _signatures(completed)
    for embedded in signed:
        status = _pyhanko_status(embedded)
        assert status.intact and status.valid and status.trusted, embedded.field_name
        assert status.docmdp_ok is not False and status.modification_level <= ModificationLevel.FORM_FILLING
    out = _pdfsig(completed)
    assert out.count("Signature is Valid.") == 3 and "Invalid" not in out, out
    assert "The signature form field is not signed." in out  # head3's seat, empty
    report = kit.verify(completed)
    assert report["valid"] is True and report["problems"] == [], report["problems"]


def test_a_foreign_signature_in_the_unused_seat_field_is_refused(completed):
    # the forger signs head3's empty seat field (DocMDP P=2 lets anyone fill an existing field)
    _, forger = simple_signer(root_name="Forger Root", common_name="นายปลอม ลงนามแทน")
    out = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(completed)),
        signers.PdfSignatureMetadata(field_name="Sig3_r1", subfilter=fields.SigSeedSubFilter.PADES),
        signer=forger,
    )
    forged = out.getvalue()
    report = kit.verify(forged)
    assert report["valid"] is False and report["status"] == "invalid"
    [seat] = [s for s in report["signatures"] if s["field"] == "Sig3_r1"]
    assert seat["valid"] is False and "untrusted" in seat["problem_codes"]
    assert any("Sig3_r1" in problem for problem in report["problems"]), report["problems"]
    assert "Certificate issuer isn't Trusted" in _pdfsig(forged)


def _locked_field_changed(data: bytes) -> bytes:
    """Head1's signed (locked) field repainted: its appearance now covers the page in red."""

    def change(writer):
        for name, _, ref in fields.enumerate_sig_fields(writer.prev):
            if name == "Sig1_r1":
                field = writer.get_object(ref.reference)
                field[generic.NameObject("/Rect")] = generic.ArrayObject(
                    [generic.NumberObject(v) for v in (0, 0, 595, 842)]
                )
                field[generic.NameObject("/AP")] = generic.DictionaryObject(
                    {generic.NameObject("/N"): kit._page_overlay_stream(writer)}
                )
                writer.update_container(field)

    return kit.incremental(data, change)


def test_changing_a_locked_field_is_refused_by_pyhanko_and_dsign(completed):
    forged = _locked_field_changed(completed)
    assert kit.is_red(kit.render_rgb(forged))  # what a viewer shows
    _, signed = _signatures(forged)
    status = _pyhanko_status(signed[0])
    assert status.modification_level == ModificationLevel.OTHER or status.docmdp_ok is False
    report = kit.verify(forged)
    assert report["valid"] is False and report["status"] == "invalid"
    [head1] = [s for s in report["signatures"] if s["field"] == "Sig1_r1"]
    assert head1["valid"] is False and head1["modifications"] == "other"
    assert "changed_after_last" in report["problem_codes"] or "after_last_signature_field" in report["problem_codes"]
    assert any("Sig1_r1" in problem for problem in report["problems"]), report["problems"]


def test_a_new_field_after_the_certification_breaks_it_for_pyhanko_too(completed):
    forged = kit.incremental(completed, kit.add_overlay_field)
    _, signed = _signatures(forged)
    status = _pyhanko_status(signed[0])
    assert status.docmdp_ok is False or status.modification_level == ModificationLevel.OTHER
    assert kit.verify(forged)["valid"] is False


def test_a_certified_document_is_never_given_a_new_field(completed, personas):
    from signing import pades

    route = [(name, 0, None) for name in SEATS] + [("Sig5_r2", 0, (36.0, 400.0, 206.0, 462.0))]
    with _insider_signer(personas, "head3") as signer:
        with pytest.raises(pades.SigningInputError, match="certified"):
            pades.sign_pdf(pdf=completed, signer=signer, field_name="Sig5_r2", route_fields=route)


def _insider_signer(personas, username: str):
    from certificates.selectors import certificate_for_signing, signing_credentials_get
    from core import hsm

    credentials = signing_credentials_get(certificate_id=certificate_for_signing(user=personas[username]).pk)
    return hsm.signer(label=credentials.key_label, signing_cert=credentials.certificate, other_certs=credentials.chain)


def test_a_genuine_signature_in_the_unused_seat_after_the_document_timestamp_is_refused(
    completed,
    personas,
    dsign_tsa,  # noqa: F811 - fixture
):
    """An insider with a real dsign certificate (head3, whose seat was not needed) fills the empty field of
    the closed memo: DocMDP P=2 allows signing an existing field, dsign's verifier does not after the
    document timestamp that closed it."""
    from signing import pades

    stamped = with_document_timestamp(completed)
    assert kit.verify(stamped)["valid"] is True
    with _insider_signer(personas, "head3") as signer:
        forged = pades.sign_pdf(pdf=stamped, signer=signer, field_name="Sig3_r1")
    report = kit.verify(forged)
    [seat] = [s for s in report["signatures"] if s["field"] == "Sig3_r1"]
    assert seat["trusted"] is True  # a genuine dsign signature...
    assert report["valid"] is False and "signed_after_timestamp" in report["problem_codes"]  # ...on a closed memo
    assert any("Sig3_r1" in problem for problem in report["problems"]), report["problems"]


def test_the_final_file_is_verified_before_the_store_transaction_and_only_once(
    bb_template, api_for, personas, otp, monkeypatch
):
    # The completion check runs under the document lock (and, on SQLite, the write lock); the job that
    # completes the route verifies the file it is about to store first, with no transaction of its own
    # open, and the check under the lock finds that verdict. A file it did not see is still verified there.
    from django.db import connection

    from signing import services as signing_services
    from workflows import signing_handler

    depth = {"verify": [], "store": []}
    real_verify, real_store = signing_services._verify, signing_handler.store_signed

    def verify(**kwargs):
        depth["verify"].append(len(connection.atomic_blocks))
        return real_verify(**kwargs)

    def store(**kwargs):
        depth["store"].append(len(connection.atomic_blocks))
        return real_store(**kwargs)

    monkeypatch.setattr(signing_services, "_verify", verify)
    monkeypatch.setattr(signing_handler, "store_signed", store)
    document_id, final = kit.complete(api_for=api_for, personas=personas, otp=otp, pdf=blank_pdf())

    assert api_for(personas["requester"]).get(f"/api/v1/documents/{document_id}/").json()["status"] == "completed"
    assert len(depth["store"]) == 3 and len(depth["verify"]) == 1, depth  # the director's job only, once
    assert depth["verify"][0] < depth["store"][-1], depth  # outside the store's transaction
    assert signing_services.final_file_problems(pdf=final) == []
