"""Passkeys (WebAuthn): enrolled only with a factor, AAL3, and an approval's assertion activates a signature
for that document and version only, once, from the user's own credential, with user verification and a
sign counter that only goes up. Assertions come from a software authenticator (tests.support.authenticator)
and are verified by py_webauthn for real — in the web tier and again in the signer."""

from __future__ import annotations

import json
import time

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import WebAuthnDevice
from audit.models import Event
from signing.models import ActivationFactor, PadesLevel
from tests.conftest import api_client_for, make_otp
from tests.support.authenticator import SoftAuthenticator, b64
from tests.workflows.helpers import latest_file, signature_fields, upload
from workflows.models import Assignment, WorkflowTemplate

pytestmark = [pytest.mark.hsm, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _authenticator(**kwargs) -> SoftAuthenticator:
    return SoftAuthenticator(rp_id=settings.WEBAUTHN_RP_ID, origin=settings.WEBAUTHN_ORIGINS[0], **kwargs)


def _browser(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def enrol(user, authenticator: SoftAuthenticator | None = None, *, client: Client | None = None) -> SoftAuthenticator:
    """Add a passkey on the MFA page's endpoints, authorised by a backup code."""
    authenticator = authenticator or _authenticator()
    client = client or _browser(user)
    options = client.post("/accounts/mfa/passkey/options/", {"otp": make_otp(user, "112233")})
    assert options.status_code == 200, options.content
    created = client.post(
        "/accounts/mfa/passkey/register/",
        {"credential": authenticator.create(options.json()), "name": "key"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    return authenticator


def _template(**levels) -> WorkflowTemplate:
    WorkflowTemplate.objects.filter(code="memo-2-tier").update(pades_level=PadesLevel.B_B, **levels)
    return WorkflowTemplate.objects.get(code="memo-2-tier")


def _challenge(user, document_id: int, **body):
    return api_client_for(user).post(f"/api/v1/documents/{document_id}/approve/challenge/", body, format="json")


def _approve(user, document_id: int, **body):
    return api_client_for(user).post(
        f"/api/v1/documents/{document_id}/approve/", body, format="json", HTTP_ACCEPT_LANGUAGE="en"
    )


def _totp_code(user) -> str:
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


# --- enrolment ---------------------------------------------------------------------------------------


def test_a_passkey_is_added_only_with_an_existing_factor_and_is_sealed_for_the_signer(personas):
    head1 = personas["head1"]
    make_otp(head1, "112233")
    client = _browser(head1)
    refused = client.post("/accounts/mfa/passkey/options/", {})
    assert refused.status_code == 403 and refused.json()["code"] == "factor_required"
    mail.outbox.clear()

    authenticator = enrol(head1, client=client)
    device = WebAuthnDevice.objects.get(user=head1)
    assert device.confirmed and device.credential_id == b64(authenticator.credential_id)
    # The signer holds its own sealed copy of the public key: the row alone activates nothing.
    assert ActivationFactor.objects.filter(user_id=head1.pk, device=device.persistent_id, kind="webauthn").exists()
    enrolled = Event.objects.filter(action="accounts.mfa_enrolled", actor_repr="head1").first()
    assert enrolled.details["device"] == device.persistent_id
    assert enrolled.details["authorised_by"].startswith("otp:")
    assert any("passkey" in m.body for m in mail.outbox)
    shown = client.get("/accounts/mfa/").content.decode()
    assert "Passkey" in shown and "AAL3" in shown
    listed = api_client_for(head1).get("/api/v1/me/mfa/devices/").json()
    assert {"id": device.persistent_id, "kind": "webauthn", "aal": 3}.items() <= next(
        d for d in listed if d["kind"] == "webauthn"
    ).items()
    # An administrator removes a lost passkey (never adds one): the signer's sealed copy goes with it.
    from accounts import services

    services.device_remove_by_admin(device=device, actor=personas["admin"])
    assert not ActivationFactor.objects.filter(device=device.persistent_id).exists()


def test_a_registration_without_user_verification_or_from_another_session_is_refused(personas):
    head1 = personas["head1"]
    client = _browser(head1)
    options = client.post("/accounts/mfa/passkey/options/", {"otp": make_otp(head1, "112233")}).json()
    no_pin = _authenticator(user_verification=False)
    refused = client.post(
        "/accounts/mfa/passkey/register/", {"credential": no_pin.create(options)}, content_type="application/json"
    )
    assert refused.status_code == 403 and refused.json()["code"] == "passkey_refused"

    options = client.post("/accounts/mfa/passkey/options/", {"otp": make_otp(head1, "445566")}).json()
    other_session = _browser(head1)
    stolen = other_session.post(
        "/accounts/mfa/passkey/register/",
        {"credential": _authenticator().create(options)},
        content_type="application/json",
    )
    assert stolen.status_code == 403 and stolen.json()["code"] == "passkey_challenge_invalid"
    assert not WebAuthnDevice.objects.filter(user=head1).exists()


def test_a_first_passkey_is_added_in_the_sign_in_window_and_then_codes_are_not_what_it_asks_for(outsider):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    signed_in = client.post("/accounts/login/", {"username": "outsider", "password": "demo-pass-2026"})
    assert signed_in.status_code == 302, signed_in.content
    authenticator = _authenticator()
    options = client.post("/accounts/mfa/passkey/options/", {})
    assert options.status_code == 200, options.content
    created = client.post(
        "/accounts/mfa/passkey/register/",
        {"credential": authenticator.create(options.json())},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    enrolled = Event.objects.filter(action="accounts.mfa_enrolled", actor_repr="outsider").first()
    assert enrolled.details["authorised_by"] == "first-enrolment:sign-in"
    # Now a factor exists: a change needs it, and a typed code is pointed to the passkey.
    refused = client.post("/accounts/mfa/passkey/options/", {"otp": "123456"})
    assert refused.status_code == 403 and "passkey" in refused.json()["detail"]


def test_a_passkey_authorises_a_change_of_factors_but_an_approval_assertion_does_not(personas, pdf_bytes):
    head1 = personas["head1"]
    client = _browser(head1)
    authenticator = enrol(head1, client=client)
    document = upload(personas["requester"], pdf_bytes)
    # An assertion made to approve a document is not an authorisation to change factors.
    sign_options = client.post(f"/documents/{document['id']}/passkey/").json()
    wrong = client.post(
        "/accounts/mfa/",
        {"action": "backup", "webauthn": json.dumps(authenticator.get(sign_options))},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "backup-codes" not in wrong.content.decode()

    change = client.post("/accounts/mfa/passkey/challenge/").json()
    made = client.post(
        "/accounts/mfa/",
        {"action": "backup", "webauthn": json.dumps(authenticator.get(change))},
    )
    assert 'class="card backup-codes"' in made.content.decode()
    event = Event.objects.filter(action="accounts.backup_codes_generated", actor_repr="head1").first()
    assert event.details["authorised_by"].startswith("passkey:")


# --- approval ----------------------------------------------------------------------------------------


def test_a_passkey_template_refuses_a_totp_code_and_accepts_a_passkey_whose_activation_signs(personas, pdf_bytes):
    from signing import services as signing_services
    from signing.models import JobStatus, SigningJob

    _template(min_aal=3)
    head1 = personas["head1"]
    authenticator = enrol(head1)
    document = upload(personas["requester"], pdf_bytes)

    refused = _approve(head1, document["id"], otp=_totp_code(head1))
    assert refused.status_code == 403, refused.content
    assert refused.json()["code"] == "passkey_required" and "passkey" in refused.json()["detail"]
    thai = api_client_for(head1).post(
        f"/api/v1/documents/{document['id']}/approve/", {"otp": _totp_code(head1)}, format="json",
        HTTP_ACCEPT_LANGUAGE="th",
    )  # fmt: skip
    assert "พาสคีย์" in thai.json()["detail"]

    options = _challenge(head1, document["id"], sha256=document["version"]["sha256"])
    assert options.status_code == 200, options.content
    public_key = options.json()["publicKey"]
    assert public_key["rpId"] == settings.WEBAUTHN_RP_ID and public_key["userVerification"] == "required"
    accepted = _approve(head1, document["id"], webauthn=authenticator.get(options.json()))
    assert accepted.status_code == 202, accepted.content
    approved = Event.objects.filter(action="document.approved", actor_repr="head1").first()
    assert approved.details["aal"] == 3

    seat = Assignment.objects.get(tier__document_id=document["id"], signer=head1)
    signing_services.signing_job_run(job_id=seat.signing_job_id)
    assert SigningJob.objects.get(pk=seat.signing_job_id).status == JobStatus.DONE


# --- attackers ---------------------------------------------------------------------------------------


@pytest.fixture
def two_documents(personas, pdf_bytes):
    _template(min_aal=3)
    return upload(personas["requester"], pdf_bytes, title="ก"), upload(personas["requester"], pdf_bytes, title="ข")


def test_a_replayed_assertion_is_refused_by_the_web_tier_and_by_the_signer(personas, two_documents):
    from core import signer as signer_client
    from signing.factors import _factors, _payload
    from workflows.models import Document
    from workflows.selectors import signing_items

    head1 = personas["head1"]
    authenticator = enrol(head1)
    first, _second = two_documents
    # The version the challenge carries (the approval's signature then adds a new one).
    items = signing_items([Document.objects.get(pk=first["id"])])
    answer = authenticator.get(_challenge(head1, first["id"]).json())
    assert _approve(head1, first["id"], webauthn=answer).status_code == 202
    again = _approve(head1, first["id"], webauthn=answer)
    assert again.status_code in (403, 409)
    # A web-tier shell that skips its own checks and hands the same assertion to the signer gets nothing.
    device = WebAuthnDevice.objects.get(user=head1)
    factors = [f for f in _factors(head1.pk, [device.persistent_id]) if f.kind == "webauthn"]
    with pytest.raises(signer_client.SignerError) as refused:
        signer_client.call("activate", user_id=head1.pk, items=items, factors=_payload(factors), assertion=answer)
    assert refused.value.code == "passkey_replayed"


def test_an_assertion_for_one_document_does_not_approve_another(personas, two_documents):
    from core import signer as signer_client
    from signing.factors import _factors, _payload
    from workflows.models import Document
    from workflows.selectors import signing_items

    head1 = personas["head1"]
    authenticator = enrol(head1)
    first, second = two_documents
    answer = authenticator.get(_challenge(head1, first["id"]).json())
    refused = _approve(head1, second["id"], webauthn=answer)
    assert refused.status_code == 403 and refused.json()["code"] == "passkey_other_purpose", refused.content
    assert not Event.objects.filter(action="document.approved").exists()
    # The signer recomputes the binding from the items it activates: the other document's are refused.
    answer = authenticator.get(_challenge(head1, first["id"]).json())
    device = WebAuthnDevice.objects.get(user=head1)
    factors = [f for f in _factors(head1.pk, [device.persistent_id]) if f.kind == "webauthn"]
    with pytest.raises(signer_client.SignerError) as other:
        signer_client.call(
            "activate",
            user_id=head1.pk,
            items=signing_items([Document.objects.get(pk=second["id"])]),
            factors=_payload(factors),
            assertion=answer,
        )
    assert other.value.code == "passkey_other_purpose"


def test_a_stale_version_is_refused_before_a_challenge_is_handed_out(personas, two_documents):
    head1 = personas["head1"]
    enrol(head1)
    first, _second = two_documents
    stale = _challenge(head1, first["id"], sha256="ab" * 32)
    assert stale.status_code == 409 and stale.json()["code"] == "stale_version"


def test_another_users_passkey_does_not_approve(personas, two_documents):
    head1, head2 = personas["head1"], personas["head2"]
    enrol(head1)
    theirs = enrol(head2)
    first, _second = two_documents
    # head2's key answering head1's challenge: not one of head1's credentials.
    refused = _approve(head1, first["id"], webauthn=theirs.get(_challenge(head1, first["id"]).json()))
    assert refused.status_code == 403 and refused.json()["code"] == "passkey_unknown", refused.content
    assert Event.objects.filter(action="accounts.mfa_failed", actor_repr="head1").exists()


def test_a_sign_counter_that_goes_back_is_refused_as_a_cloned_key_even_after_the_database_is_reset(
    personas, two_documents
):
    head1 = personas["head1"]
    authenticator = enrol(head1, _authenticator(sign_count=5))
    first, second = two_documents
    assert (
        _approve(head1, first["id"], webauthn=authenticator.get(_challenge(head1, first["id"]).json())).status_code
        == 202
    )
    authenticator.sign_count = 3  # a copy of the key, used elsewhere less often
    cloned = _approve(head1, second["id"], webauthn=authenticator.get(_challenge(head1, second["id"]).json()))
    assert cloned.status_code == 403 and cloned.json()["code"] == "passkey_counter"
    assert Event.objects.filter(action="accounts.passkey_clone_suspected", actor_repr="head1").exists()
    # Someone who resets the counter in the database meets the signer's own counter.
    WebAuthnDevice.objects.filter(user=head1).update(sign_count=0)
    again = _approve(head1, second["id"], webauthn=authenticator.get(_challenge(head1, second["id"]).json()))
    assert again.status_code == 403 and again.json()["code"] == "passkey_counter"
    assert Event.objects.filter(action="document.approved").count() == 1


def test_an_assertion_without_user_verification_is_refused(personas, two_documents):
    head1 = personas["head1"]
    authenticator = enrol(head1)
    first, _second = two_documents
    authenticator.user_verification = False  # touched, but no PIN or fingerprint
    refused = _approve(head1, first["id"], webauthn=authenticator.get(_challenge(head1, first["id"]).json()))
    assert refused.status_code == 403 and refused.json()["code"] == "passkey_user_not_verified"


def test_a_public_key_swapped_in_the_database_does_not_activate_a_signature(personas, two_documents):
    from cryptography.hazmat.primitives.asymmetric import ec

    head1 = personas["head1"]
    authenticator = enrol(head1)
    first, _second = two_documents
    attacker = ec.generate_private_key(ec.SECP256R1())
    WebAuthnDevice.objects.filter(user=head1).update(public_key=b64(authenticator.cose_public_key(attacker)))
    forged = authenticator.get(_challenge(head1, first["id"]).json(), key=attacker)
    refused = _approve(head1, first["id"], webauthn=forged)
    assert refused.status_code == 403 and refused.json()["code"] == "passkey_refused", refused.content
    assert not Event.objects.filter(action="document.approved").exists()


def test_an_assertion_from_another_origin_is_refused(personas, two_documents):
    head1 = personas["head1"]
    authenticator = enrol(head1)
    first, _second = two_documents
    phished = authenticator.get(_challenge(head1, first["id"]).json(), origin="https://dsign.example.phish")
    refused = _approve(head1, first["id"], webauthn=phished)
    assert refused.status_code == 403 and refused.json()["code"] == "passkey_refused"


def test_a_malformed_assertion_is_a_clear_400(personas, two_documents):
    head1 = personas["head1"]
    enrol(head1)
    first, _second = two_documents
    refused = _approve(head1, first["id"], webauthn={"id": "x", "response": {}})
    assert refused.status_code == 400 and refused.json()["code"] == "passkey_invalid"


def test_a_batch_is_approved_with_one_passkey_assertion_for_exactly_its_documents(personas, two_documents):
    head1 = personas["head1"]
    authenticator = enrol(head1)
    first, second = two_documents
    client = api_client_for(head1)
    options = client.post("/api/v1/batches/challenge/", {"documents": [first["id"], second["id"]]}, format="json")
    assert options.status_code == 200, options.content
    answer = authenticator.get(options.json())
    only_one = client.post("/api/v1/batches/", {"documents": [first["id"]], "webauthn": answer}, format="json")
    assert only_one.status_code == 403 and only_one.json()["code"] == "passkey_other_purpose"
    answer = authenticator.get(
        client.post("/api/v1/batches/challenge/", {"documents": [first["id"], second["id"]]}, format="json").json()
    )
    both = client.post(
        "/api/v1/batches/", {"documents": [first["id"], second["id"]], "webauthn": answer}, format="json"
    )
    assert both.status_code == 202, both.content
    assert both.json()["errors"] == []


@pytest.fixture
def remote_signer(tmp_path_factory):
    from tests.support.signer import remote_signer_in_use, signer_process

    socket_path = tmp_path_factory.mktemp("signer-passkeys") / "signer.sock"
    with signer_process(socket_path), remote_signer_in_use(socket_path):
        yield


def test_the_signer_process_verifies_the_passkey_and_its_activation_signs(personas, two_documents, remote_signer):
    from signing import services as signing_services
    from signing.models import JobStatus, SigningJob

    head1 = personas["head1"]
    authenticator = enrol(head1)
    first, _second = two_documents
    answer = authenticator.get(_challenge(head1, first["id"]).json())
    assert _approve(head1, first["id"], webauthn=answer).status_code == 202
    seat = Assignment.objects.get(document_id=first["id"], signer=head1)
    signing_services.signing_job_run(job_id=seat.signing_job_id)
    assert SigningJob.objects.get(pk=seat.signing_job_id).status == JobStatus.DONE
    assert len(signature_fields(latest_file(head1, first["id"]))) == 1


def test_the_certificate_pages_and_api_show_its_identity_proofing_level(personas):
    from certificates.models import Certificate, CertificateStatus

    head1 = personas["head1"]
    certificate = Certificate.objects.get(user=head1, status=CertificateStatus.ACTIVE)
    Certificate.objects.filter(pk=certificate.pk).update(
        identity_proofing_level=3, identity_proofing_method="in_person", identity_proofing_reference="F-2569-0042"
    )
    client = Client()
    client.force_login(head1)
    details = client.get("/pki/mine/").content.decode()
    assert f'id="certificate-ial-{certificate.pk}">IAL3' in details and "F-2569-0042" in details
    assert f'id="identity-proofing-{certificate.pk}">IAL3' in client.get("/me/").content.decode()
    shown = api_client_for(head1).get(f"/api/v1/certificates/{certificate.pk}/").json()
    assert shown["identity_proofing_level"] == 3 and shown["identity_proofing_method"] == "in_person"
