"""CSR round trip with an external CA (played by `openssl x509 -req`), certificate import and PKCS#12 import."""

from __future__ import annotations

import pytest
from asn1crypto import x509
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import Event
from certificates import external, selectors, services
from certificates.models import Certificate, CertificateStatus, TrustRoot
from core import hsm
from signing import verification
from signing.models import JobStatus, PadesLevel, SigningJob
from workflows.models import WorkflowTemplate

from .conftest import approved, openssl, openssl_ok

pytestmark = [pytest.mark.hsm, pytest.mark.django_db]


@pytest.fixture
def nrca_root(external_ca, personas):
    root = external.trust_root_add(
        name="Test NRCA", source=TrustRoot.Source.NRCA, data=external_ca.cert.read_bytes(), actor=personas["admin"]
    )
    return approved(root)


def _import_formats(tmp_path, leaf, ca_cert) -> dict[str, bytes]:
    p7_pem, p7_der = tmp_path / "chain.p7b", tmp_path / "chain.p7b.der"
    openssl_ok("crl2pkcs7", "-nocrl", "-certfile", leaf, "-certfile", ca_cert, "-out", p7_pem)
    openssl_ok("crl2pkcs7", "-nocrl", "-certfile", leaf, "-certfile", ca_cert, "-outform", "DER", "-out", p7_der)
    der = tmp_path / "leaf.der"
    openssl_ok("x509", "-in", leaf, "-outform", "DER", "-out", der)
    return {
        "pem_with_chain": leaf.read_bytes() + ca_cert.read_bytes(),
        "der": der.read_bytes(),
        "pkcs7_pem": p7_pem.read_bytes(),
        "pkcs7_der": p7_der.read_bytes(),
    }


@pytest.mark.parametrize("form", ["pem_with_chain", "der", "pkcs7_pem", "pkcs7_der"])
def test_csr_round_trip_imports_each_format_and_waits_for_acceptance(
    form, personas, external_ca, nrca_root, tmp_path, django_capture_on_commit_callbacks
):
    head2 = personas["head2"]
    request = services.certificate_request_external(user=head2, actor=personas["admin"], algorithm="ec-p256")
    assert request.status == CertificateStatus.AWAITING_ISSUANCE
    csr_file = tmp_path / "req.csr"
    csr_file.write_text(request.csr_pem)
    # OpenSSL checks the proof of possession the token made, and reads the Thai name back.
    checked = openssl_ok("req", "-in", csr_file, "-verify", "-noout", "-subject", "-nameopt", "utf8")
    assert "verify OK" in checked and "วิไล" in checked

    leaf = external_ca.sign_csr(request.csr_pem, name="head2")
    with django_capture_on_commit_callbacks(execute=True):
        cert = external.certificate_import_issued(
            certificate=request, data=_import_formats(tmp_path, leaf, external_ca.cert)[form], actor=personas["admin"]
        )
    cert.refresh_from_db()
    assert cert.status == CertificateStatus.PENDING_ACCEPTANCE
    assert cert.issuer_cn == "Test NRCA Root" and cert.not_after is not None
    assert [m.to for m in mail.outbox] == [[head2.email]]
    assert f"/pki/agreement/{cert.pk}/{cert.agreement_token}/" in mail.outbox[0].body
    with pytest.raises(selectors.CertificateNotUsable, match="not yet accepted"):
        selectors.signing_credentials_get(certificate_id=cert.pk)
    assert Event.objects.filter(action="certificates.imported", target_id=str(cert.pk)).exists()


def test_imported_certificate_signs_a_document_after_acceptance(
    personas, external_ca, nrca_root, api_for, otp, pdf_bytes, django_capture_on_commit_callbacks
):
    head1 = personas["head1"]
    previous = selectors.certificate_for_signing(user=head1)
    request = services.certificate_request_external(user=head1, actor=personas["admin"])
    leaf = external_ca.sign_csr(request.csr_pem, name="head1")
    cert = external.certificate_import_issued(
        certificate=request, data=leaf.read_bytes() + external_ca.cert.read_bytes(), actor=personas["admin"]
    )
    services.certificate_accept(certificate=cert, actor=head1, token=cert.agreement_token)
    previous.refresh_from_db()
    assert previous.status == CertificateStatus.SUPERSEDED and previous.superseded_by_id == cert.pk

    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    template.pades_level = PadesLevel.B_B
    template.save()
    response = api_for(personas["requester"]).post(
        "/api/v1/documents/",
        {"file": SimpleUploadedFile("m.pdf", pdf_bytes, content_type="application/pdf"), "title": "t",
         "workflow": "memo-2-tier"},
        format="multipart",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(head1).post(
            f"/api/v1/documents/{response.json()['id']}/approve/", {"otp": otp(head1)}, format="json"
        )
    assert response.status_code == 202, response.content
    job = SigningJob.objects.get(certificate_id=cert.pk)
    assert job.status == JobStatus.DONE, job.error_message

    from workflows.models import DocumentVersion

    version = DocumentVersion.objects.get(signing_job_id=job.pk)
    with version.file.open("rb") as fh:
        signed = fh.read()
    report = verification.verify_pdf_bytes(data=signed, trust_roots=selectors.trust_roots_list())
    assert report["valid"], report
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    embedded = PdfFileReader(io.BytesIO(signed)).embedded_signatures[0]
    assert embedded.signer_cert.dump() == bytes(cert.certificate_der)


def test_import_of_a_certificate_for_another_key_is_refused_with_a_clear_message(personas, external_ca, nrca_root):
    request = services.certificate_request_external(user=personas["head3"], actor=personas["admin"])
    _, other_leaf = external_ca.issue_with_new_key(name="someone-else")
    with pytest.raises(ValueError, match="does not match the key generated for this request"):
        external.certificate_import_issued(certificate=request, data=other_leaf.read_bytes(), actor=personas["admin"])
    request.refresh_from_db()
    assert request.status == CertificateStatus.AWAITING_ISSUANCE and request.certificate_der is None


def test_import_that_does_not_chain_to_an_enabled_trust_root_is_refused(personas, external_ca, rogue_ca, nrca_root):
    request = services.certificate_request_external(user=personas["head3"], actor=personas["admin"])
    rogue_leaf = rogue_ca.sign_csr(request.csr_pem, name="rogue")
    with pytest.raises(ValueError, match="does not chain to an enabled trust root"):
        external.certificate_import_issued(
            certificate=request, data=rogue_leaf.read_bytes() + rogue_ca.cert.read_bytes(), actor=personas["admin"]
        )
    # The right CA, but its root switched off: refused too.
    external.trust_root_set_enabled(trust_root=nrca_root, enabled=False, actor=personas["admin"])
    leaf = external_ca.sign_csr(request.csr_pem, name="good")
    with pytest.raises(ValueError, match="does not chain to an enabled trust root"):
        external.certificate_import_issued(certificate=request, data=leaf.read_bytes(), actor=personas["admin"])
    external.trust_root_set_enabled(trust_root=nrca_root, enabled=True, actor=personas["admin"])
    cert = external.certificate_import_issued(certificate=request, data=leaf.read_bytes(), actor=personas["admin"])
    assert cert.status == CertificateStatus.PENDING_ACCEPTANCE
    assert Event.objects.filter(action="certificates.trust_root_disabled").count() == 1


def test_garbage_and_second_imports_are_refused(personas, external_ca, nrca_root):
    request = services.certificate_request_external(user=personas["head3"], actor=personas["admin"])
    with pytest.raises(ValueError, match="not a certificate"):
        external.certificate_import_issued(certificate=request, data=b"\x30\x03\x02\x01\x01", actor=None)
    with pytest.raises(ValueError, match="empty"):
        external.certificate_import_issued(certificate=request, data=b"  ", actor=None)
    leaf = external_ca.sign_csr(request.csr_pem, name="once")
    external.certificate_import_issued(certificate=request, data=leaf.read_bytes(), actor=None)
    with pytest.raises(services.CertificateStateError, match="awaiting issuance"):
        external.certificate_import_issued(certificate=request, data=leaf.read_bytes(), actor=None)


def _pkcs12(tmp_path, ca, *, name: str, password: str, rsa: bool) -> bytes:
    key, leaf = ca.issue_with_new_key(name=name, rsa=rsa)
    out = tmp_path / f"{name}.p12"
    openssl_ok(
        "pkcs12", "-export", "-inkey", key, "-in", leaf, "-certfile", ca.cert, "-passout", f"pass:{password}",
        "-out", out,
    )  # fmt: skip
    return out.read_bytes()


def test_pkcs12_import_puts_a_non_extractable_key_in_the_token_and_it_signs(personas, external_ca, nrca_root, tmp_path):
    data = _pkcs12(tmp_path, external_ca, name="holder", password="s3cret", rsa=True)
    director = personas["director"]
    cert = external.certificate_import_pkcs12(user=director, data=data, password="s3cret", actor=personas["admin"])
    assert cert.status == CertificateStatus.PENDING_ACCEPTANCE and cert.source == Certificate.Source.PKCS12
    assert cert.key_algorithm == "rsa2048"
    attributes = hsm.key_attributes(label=cert.key_label)
    assert attributes["sensitive"] and not attributes["extractable"] and not attributes["secret_readable"]

    services.certificate_accept(certificate=cert, actor=director, token=cert.agreement_token)
    credentials = selectors.signing_credentials_get(certificate_id=cert.pk)
    signature = hsm.sign_raw(label=credentials.key_label, data=b"hello")
    leaf_pem = tmp_path / "imported.pem"
    from .conftest import write_pem

    write_pem(leaf_pem, credentials.certificate)
    openssl_ok("x509", "-in", leaf_pem, "-pubkey", "-noout", "-out", tmp_path / "pub.pem")
    (tmp_path / "data").write_bytes(b"hello")
    (tmp_path / "sig").write_bytes(signature)
    verified = openssl(
        "dgst", "-sha256", "-verify", tmp_path / "pub.pem", "-signature", tmp_path / "sig", tmp_path / "data"
    )
    assert b"Verified OK" in verified.stdout
    assert isinstance(credentials.chain[0], x509.Certificate)


def test_pkcs12_with_wrong_password_or_untrusted_chain_is_refused_and_nothing_is_stored(
    personas, external_ca, rogue_ca, nrca_root, tmp_path
):
    before = Certificate.objects.count()
    good = _pkcs12(tmp_path, external_ca, name="p12-good", password="right", rsa=False)
    with pytest.raises(ValueError, match="password is wrong"):
        external.certificate_import_pkcs12(user=personas["head3"], data=good, password="wrong", actor=None)
    with pytest.raises(ValueError, match="password is wrong"):
        external.certificate_import_pkcs12(user=personas["head3"], data=b"not a p12", password="x", actor=None)
    rogue = _pkcs12(tmp_path, rogue_ca, name="p12-rogue", password="right", rsa=False)
    with pytest.raises(ValueError, match="does not chain to an enabled trust root"):
        external.certificate_import_pkcs12(user=personas["head3"], data=rogue, password="right", actor=None)
    assert Certificate.objects.count() == before


def test_trust_root_upload_refuses_leaf_and_duplicate(personas, external_ca, nrca_root, tmp_path):
    _, leaf = external_ca.issue_with_new_key(name="leafy")
    with pytest.raises(ValueError, match="not a CA certificate"):
        external.trust_root_add(name="x", source="other", data=leaf.read_bytes(), actor=None)
    der = tmp_path / "ca.der"
    openssl_ok("x509", "-in", external_ca.cert, "-outform", "DER", "-out", der)
    with pytest.raises(ValueError, match="already configured"):
        external.trust_root_add(name="again", source="nrca", data=der.read_bytes(), actor=None)
    assert Event.objects.filter(action="certificates.trust_root_added", target_id=str(nrca_root.pk)).exists()
