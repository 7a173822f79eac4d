"""Issue 17, acceptance 1 and 3: what a forger does to a document dsign completed never passes.

Each class of the issue is generated here from a memo that dsign routed and signed in the test (three
real SoftHSM signatures, 2 of 3 heads and the director, chaining to the run's root), then verified as a
clerk would. Where the forgery changes what a reader sees, poppler (pdftoppm) shows that it does: the
verdict is about what a viewer paints, not about an artefact of our own parser.
"""

from __future__ import annotations

import io

import pikepdf
import pytest
from asn1crypto import tsp
from django.core.files.uploadedfile import SimpleUploadedFile
from pyhanko.sign.signers import PdfTimeStamper
from pyhanko.sign.timestamps import TimeStamper

from signing import archive, encryption
from tests.conftest import blank_pdf
from tests.signing import forgery_kit as kit

pytestmark = [pytest.mark.hsm, pytest.mark.django_db]

_made: dict[str, bytes] = {}


@pytest.fixture
def completed(bb_template, api_for, personas, otp) -> bytes:
    """A memo dsign completed (made once per run; the run's root and certificates do not change)."""
    if "plain" not in _made:
        _, data = kit.complete(api_for=api_for, personas=personas, otp=otp, pdf=blank_pdf())
        _made["plain"] = data
    return _made["plain"]


class InProcessDsignTSA(TimeStamper):
    """dsign's own TSA answering in this process: a genuine dsign document timestamp, as the open TSA gave."""

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        from certificates.responders import tsa_respond

        return tsp.TimeStampResp.load(tsa_respond(request_der=req.dump()))


def with_document_timestamp(data: bytes) -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    out = io.BytesIO()
    PdfTimeStamper(InProcessDsignTSA()).timestamp_pdf(writer, "sha256", output=out)
    return out.getvalue()


def test_the_genuine_completed_memo_is_valid_and_not_red(completed):
    report = kit.verify(completed)
    assert report["valid"] is True, report["problems"]
    assert [s["field"] for s in report["signatures"]] == ["Sig1_r1", "Sig2_r1", "Sig4_r1"]
    # no warning on an untouched memo, so a warning always means something (class 4's useless note)
    assert report["problems"] == [] and all(s["problem_codes"] == [] for s in report["signatures"])
    assert not kit.is_red(kit.render_rgb(completed))


# --- class 1: an overlay through a new field after the last signature --------------------------------


@pytest.mark.parametrize("field_type", ["/Sig", "/Tx"])
def test_overlay_field_after_the_last_signature_is_named_and_is_what_a_viewer_shows(completed, field_type):
    forged = kit.incremental(completed, lambda w: kit.add_overlay_field(w, field_type=field_type))
    assert kit.is_red(kit.render_rgb(forged))  # the reader sees the forger's page
    report = kit.verify(forged)
    assert report["valid"] is False and report["status"] == "invalid"
    expected = "after_last_signature_field" if field_type == "/Sig" else "after_last_fields"
    assert expected in report["problem_codes"], report["problems"]
    assert any("Overlay" in problem for problem in report["problems"])


@pytest.fixture
def dsign_tsa(monkeypatch):
    # pyHanko asks the timestamper from its event loop; dsign's TSA view is synchronous Django code
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def test_overlay_under_a_genuine_dsign_document_timestamp_is_still_caught(completed, dsign_tsa):
    forged = with_document_timestamp(kit.incremental(completed, kit.add_overlay_field))
    assert kit.is_red(kit.render_rgb(forged))
    report = kit.verify(forged, lang="th")
    assert report["document_timestamps"] and report["document_timestamps"][0]["trusted"] is True
    assert report["valid"] is False
    assert "after_last_signature_field" in report["problem_codes"]
    assert any("ช่องลายมือชื่อใหม่" in problem for problem in report["problems"])  # said in Thai


def test_a_genuine_document_timestamp_alone_keeps_the_memo_valid(completed, dsign_tsa):
    report = kit.verify(with_document_timestamp(completed))
    assert report["valid"] is True, report["problems"]


def test_an_invisible_field_carrying_a_script_after_the_last_signature_is_named(completed):
    # pyHanko clears a new invisible signature field as an LTA update; it can still run JavaScript
    forged = kit.incremental(completed, lambda w: kit.add_overlay_field(w, name="Script", invisible_script=True))
    report = kit.verify(forged)
    assert report["valid"] is False
    assert "after_last_signature_field" in report["problem_codes"], report["problems"]


def test_page_content_replaced_after_the_last_signature_is_named(completed):
    from pyhanko.pdf_utils import generic

    def replace(writer):
        page = writer.root["/Pages"]["/Kids"][0].get_object()
        page["/Contents"] = writer.add_object(generic.StreamObject(stream_data=kit.RED))
        writer.update_container(page)

    forged = kit.incremental(completed, replace)
    assert kit.is_red(kit.render_rgb(forged))
    report = kit.verify(forged)
    assert report["valid"] is False and "after_last_page" in report["problem_codes"], report["problems"]


def test_a_link_added_after_the_last_signature_is_named(completed):
    report = kit.verify(kit.incremental(completed, kit.add_link_annotation))
    assert report["valid"] is False
    assert "after_last_annotations" in report["problem_codes"], report["problems"]


# --- class 2: revocation in dsign's own CA ----------------------------------------------------------


def test_signature_of_a_certificate_revoked_later_without_a_timestamp_says_revoked(completed, personas):
    from certificates.models import Certificate, CertificateStatus
    from certificates.services import certificate_revoke

    cert = Certificate.objects.get(user=personas["head1"], status=CertificateStatus.ACTIVE)
    certificate_revoke(certificate=cert, actor=personas["admin"], reason="key_compromise")
    report = kit.verify(completed)
    first = report["signatures"][0]
    assert first["revoked"] is True and first["valid"] is False
    assert "revoked" in first["problem_codes"]
    assert report["valid"] is False


def test_a_signature_timestamped_before_the_revocation_stays_valid(completed, personas, dsign_tsa):
    from certificates.models import Certificate, CertificateStatus
    from certificates.services import certificate_revoke

    stamped = with_document_timestamp(completed)  # proof that every signature existed now
    cert = Certificate.objects.get(user=personas["head1"], status=CertificateStatus.ACTIVE)
    certificate_revoke(certificate=cert, actor=personas["admin"], reason="key_compromise")
    report = kit.verify(stamped)
    assert report["signatures"][0]["revoked"] is False
    assert report["valid"] is True, report["problems"]
    assert kit.verify(completed)["signatures"][0]["revoked"] is True  # without the proof: revoked


def test_signature_made_with_a_revoked_certificate_says_revoked(completed, personas):
    """The forger holds head2's compromised key and signs after the CA revoked it."""
    from certificates.models import Certificate, CertificateStatus
    from certificates.selectors import chain_from_pem
    from certificates.services import certificate_revoke
    from core import hsm
    from signing import pades

    cert = Certificate.objects.get(user=personas["head2"], status=CertificateStatus.ACTIVE)
    certificate_revoke(certificate=cert, actor=personas["admin"], reason="key_compromise")
    with hsm.signer(
        label=cert.key_label, signing_cert=cert.certificate, other_certs=chain_from_pem(cert.chain_pem)
    ) as signer:
        forged = pades.sign_pdf(pdf=blank_pdf(), signer=signer, field_name="Sig1", level="B-B")
    report = kit.verify(forged)
    assert report["signatures"][0]["revoked"] is True
    assert report["valid"] is False and "revoked" in report["signatures"][0]["problem_codes"]


# --- class 3: parser differential (duplicate keys, appended hybrid references) ------------------------


@pytest.mark.parametrize("hybrid", [False, True])
def test_duplicated_page_contents_is_never_valid_and_viewers_show_the_last(completed, hybrid):
    forged = kit.duplicate_contents_page(completed, hybrid=hybrid)
    assert kit.is_red(kit.render_rgb(forged))  # poppler reads the last /Contents
    report = kit.verify(forged)
    assert report["valid"] is False
    assert "duplicate_keys" in report["problem_codes"], report["problems"]
    if hybrid:
        assert "hybrid_references" in report["problem_codes"]


def test_an_appended_hybrid_section_is_never_read_leniently(completed):
    with pikepdf.open(io.BytesIO(completed)) as pdf:
        info_number = int(pdf.trailer.Size)
    forged = kit.append_revision(completed, {info_number: b"<< /Producer (forger) >>"}, hybrid=True)
    report = kit.verify(forged)
    assert report["valid"] is False
    assert "hybrid_references" in report["problem_codes"]


# --- class 4: form-field shadows planted by the requester -------------------------------------------


def _hostile_form_pdf() -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    page = pdf.pages[0]
    shown = pdf.make_stream(b"0 0 1 rg 0 0 100 20 re f", BBox=[0, 0, 100, 20], Type=pikepdf.Name.XObject)
    shown.Subtype = pikepdf.Name.Form
    red = pdf.make_stream(kit.RED, BBox=[0, 0, 595, 842], Type=pikepdf.Name.XObject)
    red.Subtype = pikepdf.Name.Form

    def widget(name, value, rect, flags, ap):
        return pdf.make_indirect(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Annot,
                Subtype=pikepdf.Name.Widget,
                FT=pikepdf.Name.Tx,
                T=pikepdf.String(name),
                V=pikepdf.String(value),
                Rect=rect,
                F=flags,
                AP=pikepdf.Dictionary(N=ap),
                P=page.obj,
            )
        )

    amount = widget("amount", "9,999,999", [100, 700, 200, 720], 4, shown)  # value differs from what it shows
    shadow = widget("shadow", "forged", [0, 0, 595, 842], 2, red)  # hidden, waiting to be un-hidden
    sig = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Annot,
            Subtype=pikepdf.Name.Widget,
            FT=pikepdf.Name.Sig,
            T=pikepdf.String("Sig2_r1"),
            Rect=[0, 0, 0, 0],
            F=4,
            P=page.obj,
            Lock=pikepdf.Dictionary(Type=pikepdf.Name.SigFieldLock, Action=pikepdf.Name.All),
        )
    )
    page.obj.Annots = pdf.make_indirect(pikepdf.Array([amount, shadow, sig]))
    js = pdf.make_indirect(pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert(1)")))
    pdf.Root.OpenAction = js
    pdf.Root.AcroForm = pdf.make_indirect(pikepdf.Dictionary(Fields=[amount, shadow, sig], NeedAppearances=True))
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def test_planted_fields_scripts_and_locks_are_flattened_away_at_upload_and_the_memo_completes(
    bb_template, api_for, personas, otp
):
    from audit.models import Event

    document_id, final = kit.complete(api_for=api_for, personas=personas, otp=otp, pdf=_hostile_form_pdf())
    detail = api_for(personas["requester"]).get(f"/api/v1/documents/{document_id}/").json()
    assert detail["status"] == "completed", detail
    with pikepdf.open(io.BytesIO(final)) as pdf:
        assert "/OpenAction" not in pdf.Root
        names = {str(f.get("/T")) for f in pdf.Root.AcroForm.Fields}
        signed = {str(f.get("/T")) for f in pdf.Root.AcroForm.Fields if "/V" in f}
        # only dsign's own: every seat's field (made by the first signature), the seats that signed filled
        assert names == {"Sig1_r1", "Sig2_r1", "Sig3_r1", "Sig4_r1"} and signed == {"Sig1_r1", "Sig2_r1", "Sig4_r1"}
    assert not kit.is_red(kit.render_rgb(final))  # the hidden shadow was dropped, not revealed
    assert kit.verify(final)["valid"] is True
    created = Event.objects.get(action="document.created", target_id=str(document_id))
    removed = created.details["removed_from_upload"]
    assert "automatic action on opening" in removed and "signatures and signature fields" in removed


def test_refilling_a_field_after_the_last_signature_is_named(completed):
    # the upload had no fields left to re-fill; a forger who adds one is class 1 again, named as a form field
    report = kit.verify(kit.incremental(completed, lambda w: kit.add_overlay_field(w, field_type="/Tx", name="amount")))
    assert report["valid"] is False
    assert "after_last_fields" in report["problem_codes"]


# --- class 5: wrappers ------------------------------------------------------------------------------


def test_an_encrypted_wrapper_is_not_valid_at_the_top_level(completed):
    wrapper = encryption.document_encrypted_copy(pdf=completed, password="ลับ-2569")
    report = kit.verify(wrapper, password="ลับ-2569")
    assert report["valid"] is False and report["container"] == "encrypted_copy"
    assert report["problem_codes"][0] == "wrapper"
    assert report["inner_valid"] is True  # the genuine memo inside is still reported on


# --- class 6: attachments and records ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "mime"),
    [
        ("amendment.pdf", blank_pdf(), "application/pdf"),
        ("payment.exe", b"MZ\x90\x00forged", "application/octet-stream"),
    ],
)
def test_a_file_attached_after_signing_makes_the_document_not_valid(completed, name, data, mime):
    report = kit.verify(kit.incremental(completed, lambda w: kit.attach_file(w, name=name, data=data, mime=mime)))
    assert report["valid"] is False
    assert "attachment_present" in report["problem_codes"], report["problems"]
    assert any(name in problem for problem in report["problems"])


def test_dsign_archive_copy_is_valid_and_a_forged_record_is_not(completed):
    genuine = archive.archive_copy_make(
        pdf=completed,
        record={"summary": "ok", "decisions": [{"round": 1, "field": "Sig1_r1", "status": "signed"}]},
    )
    assert kit.verify(genuine)["valid"] is True
    forged = archive.archive_copy_make(
        pdf=completed,
        record={"summary": "approved", "decisions": [{"round": 1, "field": "Sig9_r1", "status": "signed"}]},
    )
    report = kit.verify(forged)
    assert report["valid"] is False and "record_not_genuine" in report["problem_codes"]


# --- class 7: unsigned bytes ------------------------------------------------------------------------


def test_objects_after_eof_with_a_repeated_startxref_are_not_valid(completed):
    report = kit.verify(kit.objects_after_eof(completed))
    assert report["valid"] is False and "trailing_data" in report["problem_codes"]


def test_a_revision_holding_only_an_unreferenced_payload_is_not_valid_through_the_api(completed, api_for, personas):
    forged = kit.incremental(completed, lambda w: kit.add_unreferenced_payload(w, size=2 * 1024 * 1024))
    response = api_for(personas["auditor"]).post(
        "/api/v1/verify/", {"file": SimpleUploadedFile("f.pdf", forged)}, format="multipart"
    )
    assert response.status_code == 200
    assert response.json()["valid"] is False
    assert "unreferenced_data" in response.json()["problem_codes"]


def test_data_hidden_in_signature_padding_is_not_valid(completed):
    forged = kit.hide_in_contents_padding(completed)
    report = kit.verify(forged)
    assert report["valid"] is False and "contents_padding" in report["problem_codes"], report["problems"]


# --- class 8: no false alarms, no dead ends ---------------------------------------------------------


def _with_free_entries() -> bytes:
    """An original whose cross-reference table lists deleted objects (ordinary free entries)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 6 0 R >>",
        None,  # 4: deleted
        None,  # 5: deleted
        b"<< /Length 0 >>\nstream\n\nendstream",
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number, body in enumerate(objects, start=1):
        if body is not None:
            offsets[number] = len(out)
            out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 7\n0000000004 65535 f \n"
    for number in range(1, 7):
        if number == 4:
            out += b"0000000005 00001 f \n"
        elif number == 5:
            out += b"0000000000 00001 f \n"
        else:
            out += b"%010d 00000 n \n" % offsets[number]
    out += b"trailer\n<< /Size 7 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


@pytest.mark.parametrize("kind", ["object_streams", "linearised", "free_entries", "hybrid_upload", "form_flattened"])
def test_genuine_documents_of_every_shape_complete_and_stay_valid(bb_template, api_for, personas, otp, kind):
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    out = io.BytesIO()
    if kind == "object_streams":
        pdf.save(out, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    elif kind == "linearised":
        pdf.save(out, linearize=True)
    else:
        pdf.save(out)
    data = out.getvalue()
    if kind == "free_entries":
        data = _with_free_entries()
    elif kind == "hybrid_upload":
        with pikepdf.open(io.BytesIO(data)) as opened:
            size = int(opened.trailer.Size)
        data = kit.append_revision(data, {size: b"<< /Producer (Word) >>"}, hybrid=True)
    elif kind == "form_flattened":
        data = _hostile_form_pdf()
    document_id, final = kit.complete(api_for=api_for, personas=personas, otp=otp, pdf=data)
    detail = api_for(personas["requester"]).get(f"/api/v1/documents/{document_id}/").json()
    assert detail["status"] == "completed", detail
    report = kit.verify(final)
    assert report["valid"] is True, report["problems"]
    assert "damaged_document" not in kit.all_codes(report)


def test_a_final_file_that_is_not_valid_never_shows_completed(bb_template, api_for, personas, otp, monkeypatch):
    """A document from before normalisation (or a normaliser bug): its foreign signature is untrusted."""
    from signing import normalise
    from workflows.models import Document

    monkeypatch.setattr(normalise, "pdf_normalise", lambda data: normalise.Normalised(data=data))
    original = kit.incremental(blank_pdf(), lambda w: kit.add_overlay_field(w, field_type="/Tx", name="planted"))
    foreign = _signed_by_a_stranger(original)
    document_id, _ = kit.complete(api_for=api_for, personas=personas, otp=otp, pdf=foreign)
    document = Document.objects.get(pk=document_id)
    assert document.status != "completed"
    assert "not valid" in document.waiting_reason
    detail = api_for(personas["requester"]).get(f"/api/v1/documents/{document_id}/").json()
    assert detail["status"] == "in_progress"


def _signed_by_a_stranger(pdf: bytes) -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter

    from tests.signing.test_verification_unit import simple_signer

    _, signer = simple_signer(root_name="Stranger Root", common_name="Stranger")
    out = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf)),
        signers.PdfSignatureMetadata(field_name="Stranger", subfilter=SigSeedSubFilter.PADES),
        signer=signer,
    )
    return out.getvalue()


# --- uploads that cannot be normalised --------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\n%%EOF trash", "damaged"),
        (None, "encrypted"),
    ],
)
def test_an_upload_that_cannot_be_normalised_is_refused_with_a_message(bb_template, api_for, personas, data, words):
    if data is None:
        out = io.BytesIO()
        with pikepdf.open(io.BytesIO(blank_pdf())) as pdf:
            pdf.save(out, encryption=pikepdf.Encryption(user="u", owner="o", R=6))
        data = out.getvalue()
    response = api_for(personas["requester"]).post(
        "/api/v1/documents/",
        {"file": SimpleUploadedFile("x.pdf", data), "title": "x", "workflow": "memo-2-tier"},
        format="multipart",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400, response.content
    assert words in response.json()["detail"]


def test_the_archive_copy_dsign_makes_of_a_completed_memo_is_valid(bb_template, api_for, personas, otp):
    from core import storage
    from workflows import services

    document_id, _ = kit.complete(api_for=api_for, personas=personas, otp=otp, pdf=blank_pdf())
    version = services.archive_copy_make(document_id=document_id)
    data = storage.read_verified(storage=version.file.storage, name=version.file.name, sha256=version.sha256)
    report = kit.verify(data)
    assert report["valid"] is True, report["problems"]
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert set(pdf.attachments) == {"signing-record.json", "signing-record.xml"}
