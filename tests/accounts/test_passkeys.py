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
from tests.workflows.helpers import upload
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
    assert "Passkey" in shown or "พาสคีย์" in shown


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
