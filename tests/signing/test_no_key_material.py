"""Issue 3, acceptance 2: no private key material exists outside the token.

After certificates are issued (RSA, so a serialised private key would be recognisable by its modulus) and
documents signed, nothing in the database, var/ (outside the token's own directory) or the stored files holds
a private key: no PEM private-key block, no PKCS#1/PKCS#8 RSA private key for any key in the token, and every
private key in the token is sensitive, never extractable, and its secret cannot be read.
"""

from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from certificates import services as certificate_services
from certificates.models import Certificate, CertificateAuthority
from core import hsm
from signing.models import PadesLevel
from workflows.models import WorkflowTemplate

pytestmark = [pytest.mark.hsm, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _der_length(n: int) -> bytes:
    return bytes([n]) if n < 128 else bytes([0x82, n >> 8, n & 0xFF])


def rsa_private_key_markers(modulus: int) -> list[bytes]:
    """How a PKCS#1 RSAPrivateKey (also inside PKCS#8) begins: version 0, then the modulus."""
    body = modulus.to_bytes((modulus.bit_length() + 8) // 8, "big")
    return [b"\x02\x01\x00\x02" + _der_length(len(body)) + body[:32]]


def files_outside_the_token() -> list[Path]:
    tokens = (settings.VAR_DIR / "softhsm").resolve()
    found = []
    for path in settings.VAR_DIR.rglob("*"):
        if path.is_file() and tokens not in path.resolve().parents:
            found.append(path)
    return found


def test_no_private_key_leaves_the_token(personas, api_for, otp, pdf_bytes, settings):
    settings.SIGNING_KEY_ALGORITHM = "rsa2048"
    head1 = personas["head1"]
    issued = certificate_services.certificate_issue(user=head1, actor=personas["admin"], accept_now=True)
    assert issued.key_algorithm == "rsa2048"
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    template.pades_level = PadesLevel.B_B
    template.save()
    created = api_for(personas["requester"]).post(
        "/api/v1/documents/",
        {"file": SimpleUploadedFile("m.pdf", pdf_bytes), "title": "กุญแจ", "workflow": "memo-2-tier"},
        format="multipart",
    )
    document_id = created.json()["id"]
    approved = api_for(head1).post(f"/api/v1/documents/{document_id}/approve/", {"otp": otp(head1)}, format="json")
    assert approved.status_code == 202

    labels = list(Certificate.objects.values_list("key_label", flat=True))
    labels += list(CertificateAuthority.objects.values_list("key_label", flat=True))
    markers = []
    for label in labels:
        attributes = hsm.key_attributes(label=label)
        assert attributes["sensitive"] and not attributes["extractable"], label
        assert attributes["never_extractable"] and not attributes["secret_readable"], label
        public = hsm.key_public(label=label)
        if public.algorithm == "rsa":
            markers += rsa_private_key_markers(public["public_key"].parsed["modulus"].native)
    assert markers, "the test needs RSA keys to look for"

    connection.close()  # flush the SQLite WAL so the database file holds everything
    places = files_outside_the_token()
    assert any(p.suffix == ".pdf" for p in places), "signed versions are stored under var/"
    for path in places:
        data = path.read_bytes()
        assert b"PRIVATE KEY-----" not in data, path
        for marker in markers:
            assert marker not in data, f"a private key is serialised in {path}"
