"""Acceptance over HTTP: demo certificates chain to /pki/root.crt, CRL and OCSP answer, revocation shows.

The live server's address is written into every certificate (CRL distribution point, AIA OCSP), so the
URLs the tests call are the ones read from the certificates themselves, and openssl is the judge.
"""

from __future__ import annotations

import io
import urllib.request
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pyhanko.pdf_utils.reader import PdfFileReader

from certificates import selectors
from certificates.models import Certificate, CertificateStatus
from signing import verification
from signing.models import PadesLevel
from workflows.models import WorkflowTemplate

from .conftest import openssl, openssl_ok, write_pem

pytestmark = [
    pytest.mark.hsm,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def _urls(cert) -> tuple[str, str]:
    crl_url = cert.crl_distribution_points[0]["distribution_point"].native[0]
    ocsp_url = next(d["access_location"].native for d in cert.authority_information_access_value
                    if d["access_method"].native == "ocsp")  # fmt: skip
    return crl_url, ocsp_url


@pytest.fixture
def pki_files(live_server, tmp_path):
    root_der = _fetch(f"{live_server.url}/pki/root.crt")
    issuing = selectors.authority_get("issuing")
    root = write_pem(tmp_path / "root.pem", root_der)
    issuing_pem = write_pem(tmp_path / "issuing.pem", bytes(issuing.certificate_der))
    chain = tmp_path / "chain.pem"
    chain.write_bytes(root.read_bytes() + issuing_pem.read_bytes())
    return {"root": root, "issuing": issuing_pem, "chain": chain, "dir": tmp_path}


def _ocsp(pki_files, leaf_pem, url) -> str:
    return openssl_ok(
        "ocsp", "-issuer", pki_files["issuing"], "-cert", leaf_pem, "-url", url, "-CAfile", pki_files["chain"],
        "-timeout", 10,
    )  # fmt: skip


def _crl(pki_files, url) -> str:
    crl = pki_files["dir"] / "issuing.crl"
    crl.write_bytes(_fetch(url))
    return openssl_ok("crl", "-inform", "DER", "-in", crl, "-CAfile", pki_files["chain"], "-noout", "-text")


def test_every_demo_certificate_chains_to_the_served_root_and_crl_and_ocsp_answer(personas, pki_files, live_server):
    for username, user in personas.items():
        record = selectors.certificate_for_signing(user=user)
        cert = record.certificate
        assert cert.not_valid_after - cert.not_valid_before >= timedelta(days=365), username
        leaf = write_pem(pki_files["dir"] / f"{username}.pem", cert)
        verified = openssl("verify", "-CAfile", pki_files["root"], "-untrusted", pki_files["issuing"], leaf)
        assert verified.returncode == 0 and b": OK" in verified.stdout, verified.stderr
        crl_url, ocsp_url = _urls(cert)
        assert crl_url.startswith(live_server.url) and ocsp_url == f"{live_server.url}/pki/ocsp"
        ocsp_out = _ocsp(pki_files, leaf, ocsp_url)
        assert "Response verify OK" in ocsp_out and f"{leaf}: good" in ocsp_out, ocsp_out
    crl_out = _crl(pki_files, crl_url)
    assert "verify OK" in crl_out and "No Revoked Certificates" in crl_out


def test_a_crl_signed_by_another_ca_fails_openssl_verification(pki_files, live_server):
    # The check above must be able to fail: the root CRL does not verify against the issuing CA alone.
    crl = pki_files["dir"] / "root.crl"
    crl.write_bytes(_fetch(f"{live_server.url}/pki/crl/root.crl"))
    result = openssl("crl", "-inform", "DER", "-in", crl, "-CAfile", pki_files["issuing"], "-noout")
    assert result.returncode != 0 or b"verify failure" in result.stderr + result.stdout


def _upload(api, pdf_bytes, title="บันทึก"):
    response = api.post(
        "/api/v1/documents/",
        {"file": SimpleUploadedFile("m.pdf", pdf_bytes, content_type="application/pdf"), "title": title,
         "workflow": "memo-2-tier"},
        format="multipart",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_revocation_shows_in_ocsp_and_crl_stops_signing_and_keeps_earlier_signatures_valid(
    personas, api_for, otp, pdf_bytes, pki_files, live_server
):
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    template.pades_level = PadesLevel.B_LT
    template.save()
    head1 = personas["head1"]
    record = selectors.certificate_for_signing(user=head1)

    # Signed at B-LT while the certificate is good: OCSP "good" goes into the document.
    document_id = _upload(api_for(personas["requester"]), pdf_bytes)
    response = api_for(head1).post(f"/api/v1/documents/{document_id}/approve/", {"otp": otp(head1)}, format="json")
    assert response.status_code == 202, response.content
    signed = b"".join(api_for(head1).get(f"/api/v1/documents/{document_id}/file/").streaming_content)
    embedded = PdfFileReader(io.BytesIO(signed)).embedded_signatures[0]
    assert embedded.signer_cert.dump() == bytes(record.certificate_der)

    # Only a CA officer or admin may revoke.
    response = api_for(personas["requester"]).post(
        f"/api/v1/certificates/{record.pk}/revoke/", {"reason": "key_compromise"}, format="json"
    )
    assert response.status_code == 403 and "CA officer" in response.json()["detail"]
    response = api_for(personas["admin"]).post(
        f"/api/v1/certificates/{record.pk}/revoke/", {"reason": "key_compromise"}, format="json"
    )
    assert response.status_code == 200 and response.json()["status"] == CertificateStatus.REVOKED

    leaf = write_pem(pki_files["dir"] / "head1.pem", record.certificate)
    crl_url, ocsp_url = _urls(record.certificate)
    ocsp_out = _ocsp(pki_files, leaf, ocsp_url)
    assert f"{leaf}: revoked" in ocsp_out and "keyCompromise" in ocsp_out, ocsp_out
    crl_out = _crl(pki_files, crl_url)
    assert "verify OK" in crl_out and f"SERIAL NUMBER: {record.serial_number.upper()}" in crl_out.upper()

    # Signing with it is refused with a clear message.
    second = _upload(api_for(personas["requester"]), pdf_bytes, title="ฉบับที่สอง")
    response = api_for(head1).post(f"/api/v1/documents/{second}/approve/", {"otp": otp(head1)}, format="json")
    assert response.status_code in (403, 409) and "ไม่มีใบรับรองสำหรับลงนามที่ใช้งานได้" in response.json()["detail"]

    # The document signed before the revocation still validates, from what it embeds.
    report = verification.verify_pdf_bytes(data=signed, trust_roots=selectors.trust_roots_list())
    assert report["valid"], report
    assert report["signatures"][0]["level"] in ("B-LT", "B-LTA") and not report["signatures"][0]["revoked"]
    assert Certificate.objects.get(pk=record.pk).revocation_reason == "key_compromise"
