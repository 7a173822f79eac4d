"""Issue 20, acceptance 3: copies encrypted to recipients' certificates, opened inside dsign with the
recipient's key in the HSM after the recipient's own fresh code.

The attackers: another user holding the file (or the recipient's API token without their factor), a
stolen activation for a signature reused to decrypt (and the reverse), a replayed activation, and
someone asking the token to sign with an encryption key.
"""

from __future__ import annotations

import pytest
from asn1crypto import x509
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import Event
from certificates.models import Certificate
from core import hsm
from signing import activation
from tests.conftest import api_client_for, blank_pdf, make_otp
from tests.workflows.helpers import latest_file, upload

pytestmark = [pytest.mark.hsm, pytest.mark.django_db]


def _issue(client, **body):
    return client.post("/api/v1/certificates/encryption/", body, format="json")


def _encrypted(personas, document_id: int, recipients: list[str]) -> bytes:
    response = api_client_for(personas["requester"]).post(
        f"/api/v1/documents/{document_id}/encrypted/", {"recipients": recipients}, format="json"
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf", response.content
    return b"".join(response.streaming_content)


def _open(user, data: bytes, otp: str):
    return api_client_for(user).post(
        "/api/v1/encrypted-copies/open/",
        {"file": SimpleUploadedFile("copy.pdf", data, content_type="application/pdf"), "otp": otp},
        format="multipart",
    )


@pytest.fixture
def head1_encryption(personas):
    response = _issue(api_client_for(personas["head1"]))
    assert response.status_code == 201, response.content
    return Certificate.objects.get(pk=response.json()["id"])


def test_the_ca_issues_an_encryption_certificate_with_its_own_key_that_only_decrypts(personas, head1_encryption):
    from certificates.selectors import certificate_for_signing

    cert = head1_encryption
    assert cert.purpose == "encryption" and cert.status == "active"
    parsed = x509.Certificate.load(bytes(cert.certificate_der))
    assert parsed.key_usage_value.native == {"key_encipherment"}
    signing = certificate_for_signing(user=personas["head1"])
    assert signing.key_label != cert.key_label and signing.purpose == "signing"
    attributes = hsm.key_attributes(label=cert.key_label)
    assert attributes["decrypt"] is True and attributes["sign"] is False and attributes["secret_readable"] is False
    assert hsm.key_attributes(label=signing.key_label)["decrypt"] is False
    with pytest.raises(hsm.HSMError):  # the token refuses to sign with an encryption key
        hsm.sign_raw(label=cert.key_label, data=b"anything")
    with pytest.raises(hsm.HSMError):  # and to decrypt with a signing key
        hsm.decrypt_raw(label=signing.key_label, data=bytes(256))
    assert Event.objects.filter(action="certificates.encryption_issued", target_id=str(cert.pk)).exists()


def test_only_the_holder_or_a_ca_officer_asks_for_an_encryption_certificate(personas):
    refused = _issue(api_client_for(personas["head2"]), user="head1")
    assert refused.status_code == 403 and refused.json()["code"] == "not_allowed"
    officer = next(u for u in personas.values() if u.groups.filter(name__icontains="ca").exists() or u.is_superuser)
    granted = _issue(api_client_for(officer), user="head2")
    assert granted.status_code == 201 and granted.json()["user"] == "head2"


def test_a_recipient_opens_the_copy_encrypted_to_them_with_their_fresh_code(personas, head1_encryption):
    document = upload(personas["requester"], blank_pdf())
    copy = _encrypted(personas, document["id"], ["head1"])
    assert b"/Adobe.PubSec" in copy
    opened = _open(personas["head1"], copy, make_otp(personas["head1"], "135790"))
    assert opened.status_code == 200 and opened["Content-Type"] == "application/pdf", opened.content
    assert b"".join(opened.streaming_content) == latest_file(personas["requester"], document["id"])
    event = Event.objects.get(action="document.encrypted_copy_opened")
    assert event.actor_id == personas["head1"].pk and event.target_id == str(document["id"])
    made = Event.objects.get(action="document.encrypted_copy")
    assert made.details["certificates"] == [head1_encryption.serial_number]


def test_without_the_recipients_code_or_key_the_copy_stays_closed(personas, head1_encryption):
    document = upload(personas["requester"], blank_pdf())
    copy = _encrypted(personas, document["id"], ["head1"])
    # the recipient's API token alone (a wrong code) opens nothing
    wrong = _open(personas["head1"], copy, "000000")
    assert wrong.status_code in (403, 429), wrong.content
    # another user, even with an encryption certificate and a good code of their own, is not a recipient
    assert _issue(api_client_for(personas["head2"])).status_code == 201
    other = _open(personas["head2"], copy, make_otp(personas["head2"], "864209"))
    assert other.status_code == 422 and other.json()["code"] == "not_a_recipient"
    # a password copy is not a recipient copy either
    assert not Event.objects.filter(action="document.encrypted_copy_opened").exists()


def test_a_signing_activation_never_decrypts_and_a_decryption_one_never_signs_or_replays(personas, head1_encryption):
    from signing import services as signing_services
    from signing.decryption import key_transport_block, mechanism_of

    head1 = personas["head1"]
    document = upload(personas["requester"], blank_pdf())
    copy = _encrypted(personas, document["id"], ["head1"])
    wrapped, algorithm = key_transport_block(wrapper=copy, cert=head1_encryption.certificate)
    assert mechanism_of(algorithm) == "rsa_pkcs"
    import hashlib

    item = {"subject": head1_encryption.pk, "sha256": hashlib.sha256(wrapped).hexdigest(), "size": len(wrapped)}
    for_signing = signing_services.signature_activate(user=head1, code=make_otp(head1, "112233"), items=[item])
    ask = {
        "op": "decrypt",
        "subject": head1_encryption.pk,
        "key_label": head1_encryption.key_label,
        "encrypted_key": activation._b64(wrapped),
        "mechanism": "rsa_pkcs",
    }
    assert activation.handle({**ask, "sad": for_signing})["code"] == "activation_other_purpose"

    for_decrypting = signing_services.decryption_activate(user=head1, code=make_otp(head1, "445566"), items=[item])
    signed = activation.handle(
        {
            "op": "sign",
            "sad": for_decrypting,
            "subject": head1_encryption.pk,
            "key_label": head1_encryption.key_label,
            "signed_attrs": "",
            "prepared": "",
            "digest_algorithm": "sha256",
        }
    )
    assert signed["ok"] is False and signed["code"] == "activation_other_purpose"
    # for another user's key, or another wrapped key, the decryption activation is refused
    signing_key = Certificate.objects.filter(user=personas["head2"]).first().key_label
    assert activation.handle({**ask, "sad": for_decrypting, "key_label": signing_key})["code"] == (
        "activation_other_user"
    )
    other_block = {**ask, "sad": for_decrypting, "encrypted_key": activation._b64(bytes(len(wrapped)))}
    assert activation.handle(other_block)["code"] == "activation_other_document"
    first = activation.handle({**ask, "sad": for_decrypting})
    assert first["ok"] is True and len(activation._unb64(first["plaintext"])) == 32
    assert activation.handle({**ask, "sad": for_decrypting})["code"] == "activation_replayed"


def test_recipients_need_an_encryption_certificate_never_a_signing_one(personas):
    document = upload(personas["requester"], blank_pdf())
    response = api_client_for(personas["requester"]).post(
        f"/api/v1/documents/{document['id']}/encrypted/", {"recipients": ["head3"]}, format="json"
    )
    assert response.status_code == 422 and response.json()["code"] == "no_encryption_certificate"
    assert "head3" in response.json()["detail"]


def test_the_office_pages_ask_for_the_certificate_download_copies_and_open_them(personas, client, tmp_path):
    import subprocess

    head1 = personas["head1"]
    document = upload(personas["requester"], blank_pdf())
    client.force_login(head1)
    me = client.get("/me/").content.decode()
    assert 'id="request-encryption-certificate"' in me and "ขอใบรับรองสำหรับการเข้ารหัส" in me
    assert client.post("/me/encryption-certificate/").status_code == 302
    assert 'href="/encrypted/open/"' in client.get("/me/").content.decode()

    client.force_login(personas["requester"])
    page = client.get(f"/documents/{document['id']}/").content.decode()
    assert 'id="encrypted-copy-form"' in page and "ดาวน์โหลดสำเนาที่เข้ารหัส" in page
    not_portable = client.post(f"/documents/{document['id']}/encrypted/", {"password": "รหัส-สำเนา-2569"})
    assert not_portable.status_code == 302  # ำ: SASLprep readers and qpdf would disagree on the bytes
    password = "รหัสลับของกองคลัง-๒๕๖๙"  # Thai, tone marks, Thai digits: NFKC leaves it as typed
    by_password = client.post(f"/documents/{document['id']}/encrypted/", {"password": password})
    assert by_password.status_code == 200 and by_password["Content-Type"] == "application/pdf"
    path = tmp_path / "pw.pdf"
    path.write_bytes(by_password.content)
    subprocess.run(["qpdf", f"--password={password}", "--decrypt", str(path), str(tmp_path / "open.pdf")], check=True)
    copy = client.post(f"/documents/{document['id']}/encrypted/", {"recipients": "head1"})
    assert copy.status_code == 200 and b"/Adobe.PubSec" in copy.content
    neither = client.post(f"/documents/{document['id']}/encrypted/", {})
    assert neither.status_code == 302  # back to the page with the message

    client.force_login(head1)
    wrong = client.post("/encrypted/open/", {"file": SimpleUploadedFile("c.pdf", copy.content), "otp": "000000"})
    assert wrong.status_code in (403, 429) and 'id="encrypted-open-form"' in wrong.content.decode()
    opened = client.post(
        "/encrypted/open/", {"file": SimpleUploadedFile("c.pdf", copy.content), "otp": make_otp(head1, "975310")}
    )
    assert opened.status_code == 200 and opened["Content-Type"] == "application/pdf"
    assert opened.content == latest_file(personas["requester"], document["id"])
