"""Passkeys (WebAuthn, py_webauthn): challenges bound to a user, a session and a purpose; assertions.

A challenge (core.passkeys) carries its binding: for an approval, the documents and the versions the
user was shown; otherwise a purpose ("mfa_change", "register"). It is kept here as a row that one
session (or, through the API, one user without a session) may answer once before it expires. An
assertion is checked here with the credential's public key and sign counter (user verification is
required), then by the registered assertion verifiers (signing: the signer checks it again against
its sealed copy of the credential and, for a signature, issues activation data for that binding).
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from webauthn import generate_authentication_options, options_to_json, verify_authentication_response
from webauthn.helpers import (
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticationCredential,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    UserVerificationRequirement,
)

from core import passkeys as binding_rules

from ..models import PasskeyChallenge, User, WebAuthnDevice
from .mfa import StepUpFailed, _audit

REGISTER = "register"
FACTOR_CHANGE = "mfa_change"


class PasskeyRefused(StepUpFailed):
    """A passkey response that is malformed, answers no live challenge of this session, comes from a
    credential the user does not have, or does not verify; ``code`` says which."""

    code = "passkey_refused"

    def __init__(self, message: str, *, code: str = "passkey_refused", status: int = 403):
        super().__init__(message)
        self.code = code
        self.status = status


def _session_key(request) -> str:
    """The browser session the user signed in with, or "" (an API client: bound to the user alone)."""
    session = getattr(request, "session", None)
    user = getattr(request, "user", None)
    if session is None or user is None or str(session.get("_auth_user_id", "")) != str(user.pk):
        return ""
    return session.session_key or ""


def _expected_origins() -> list[str]:
    return list(settings.WEBAUTHN_ORIGINS)


def challenge_issue(*, user: User, purpose: str, binding: str, request=None, authorised_by: str = "") -> bytes:
    """A new challenge for ``user`` in this session; earlier unanswered ones for the same purpose lapse."""
    challenge = binding_rules.challenge_make(user_id=user.pk, binding=binding)
    session_key = _session_key(request)
    now = timezone.now()
    with transaction.atomic():
        PasskeyChallenge.objects.filter(
            user=user, purpose=purpose, session_key=session_key, used_at__isnull=True
        ).update(used_at=now)
        PasskeyChallenge.objects.filter(expires_at__lt=now - timedelta(days=1)).delete()
        PasskeyChallenge.objects.create(
            user=user,
            challenge_sha256=hashlib.sha256(challenge).hexdigest(),
            purpose=purpose,
            binding=binding,
            session_key=session_key,
            authorised_by=authorised_by[:120],
            expires_at=now + timedelta(seconds=settings.WEBAUTHN_CHALLENGE_SECONDS),
        )
    return challenge


def _challenge_consume(*, user: User, challenge: bytes, purpose: str, binding: str, request) -> PasskeyChallenge:
    """Spend the challenge the response answers (once; conditional UPDATE), or PasskeyRefused (audited)."""
    now = timezone.now()
    row = PasskeyChallenge.objects.filter(
        user=user,
        challenge_sha256=hashlib.sha256(challenge).hexdigest(),
        purpose=purpose,
        session_key=_session_key(request),
    ).first()
    if row is None or row.used_at is not None or row.expires_at <= now:
        detail = "no such challenge" if row is None else ("used" if row.used_at else "expired")
        _audit(user, "accounts.mfa_failed", purpose, f"passkey challenge {detail}")
        if row is not None and row.used_at is None:
            raise PasskeyRefused(_("The passkey request has expired; try again."), code="passkey_challenge_expired")
        raise PasskeyRefused(
            _("This passkey response answers no request of yours that is still open; try again."),
            code="passkey_challenge_invalid",
        )
    if not PasskeyChallenge.objects.filter(pk=row.pk, used_at__isnull=True).update(used_at=now):
        _audit(user, "accounts.mfa_failed", purpose, "passkey challenge used")
        raise PasskeyRefused(
            _("This passkey response answers no request of yours that is still open; try again."),
            code="passkey_challenge_invalid",
        )
    try:
        binding_rules.challenge_check(
            challenge=challenge,
            user_id=user.pk,
            binding=binding,
            max_age=settings.WEBAUTHN_CHALLENGE_SECONDS,
        )
    except binding_rules.ChallengeMismatch as exc:
        _audit(user, "accounts.mfa_failed", purpose, f"passkey {exc.code}")
        raise PasskeyRefused(_binding_message(exc.code), code=exc.code) from exc
    return row


def _binding_message(code: str) -> str:
    if code == "passkey_challenge_expired":
        return _("The passkey request has expired; try again.")
    return _("This passkey response was made for another document, version or purpose; it cannot approve this one.")


def _parsed(credential, parser):
    try:
        return parser(json.dumps(credential) if isinstance(credential, dict) else str(credential or ""))
    except (WebAuthnException, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise PasskeyRefused(
            _("The passkey response is not a WebAuthn credential (field webauthn)."), code="passkey_invalid", status=400
        ) from exc


def _challenge_of(credential: AuthenticationCredential | RegistrationCredential) -> bytes:
    try:
        return parse_client_data_json(credential.response.client_data_json).challenge
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise PasskeyRefused(
            _("The passkey response is not a WebAuthn credential (field webauthn)."), code="passkey_invalid", status=400
        ) from exc


def parse_registration(credential) -> tuple[RegistrationCredential, bytes]:
    parsed = _parsed(credential, parse_registration_credential_json)
    return parsed, _challenge_of(parsed)


def challenge_spend(*, user: User, challenge: bytes, purpose: str, binding: str, request) -> PasskeyChallenge:
    return _challenge_consume(user=user, challenge=challenge, purpose=purpose, binding=binding, request=request)


def _descriptor(device: WebAuthnDevice) -> PublicKeyCredentialDescriptor:
    transports = []
    for name in device.transports or []:
        try:
            transports.append(AuthenticatorTransport(name))
        except ValueError:
            continue
    return PublicKeyCredentialDescriptor(id=_b64decode(device.credential_id), transports=transports or None)


def _b64decode(text: str) -> bytes:
    from webauthn import base64url_to_bytes

    return base64url_to_bytes(text)


def user_passkeys(user: User) -> list[WebAuthnDevice]:
    return list(WebAuthnDevice.objects.filter(user=user, confirmed=True).order_by("pk"))


def descriptors_of(user: User) -> list[PublicKeyCredentialDescriptor]:
    return [_descriptor(device) for device in WebAuthnDevice.objects.filter(user=user).order_by("pk")]


def passkey_options(*, user: User, purpose: str, binding: str, request=None) -> dict:
    """Options for navigator.credentials.get() ({"publicKey": …} as JSON) answering a new challenge."""
    devices = user_passkeys(user)
    if not devices:
        _audit(user, "accounts.mfa_failed", purpose, "no passkey")
        raise PasskeyRefused(_("You have no passkey; add one on the MFA page first."), code="passkey_none", status=409)
    challenge = challenge_issue(user=user, purpose=purpose, binding=binding, request=request)
    options = generate_authentication_options(
        rp_id=settings.WEBAUTHN_RP_ID,
        challenge=challenge,
        timeout=settings.WEBAUTHN_CHALLENGE_SECONDS * 1000,
        allow_credentials=[_descriptor(device) for device in devices],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return {"publicKey": json.loads(options_to_json(options))}


# Assertion verifiers other apps register (signing: the signer checks the assertion against its sealed
# copy of the credential). Each is called with (user, assertion, device, binding, context); it returns
# True when it checked the assertion, False when the device is not its own, and raises PasskeyRefused.
_assertion_verifiers: list = []


def assertion_verifier_register(verifier) -> None:
    if verifier not in _assertion_verifiers:
        _assertion_verifiers.append(verifier)


def passkey_verify(
    *, user: User, assertion, purpose: str, binding: str, request=None, verifier_context: dict | None = None
) -> WebAuthnDevice:
    """The user's passkey that made ``assertion`` for the challenge this session holds for ``purpose`` and
    ``binding``; PasskeyRefused (audited) otherwise. The challenge is spent whatever the outcome."""
    credential = _parsed(assertion, parse_authentication_credential_json)
    challenge = _challenge_of(credential)
    _challenge_consume(user=user, challenge=challenge, purpose=purpose, binding=binding, request=request)
    credential_id = bytes_to_base64url(credential.raw_id)
    device = WebAuthnDevice.objects.filter(user=user, credential_id=credential_id, confirmed=True).first()
    if device is None:
        _audit(user, "accounts.mfa_failed", purpose, f"unknown passkey {credential_id[:16]}")
        raise PasskeyRefused(_("This passkey is not one of yours on dsign."), code="passkey_unknown")
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=settings.WEBAUTHN_RP_ID,
            expected_origin=_expected_origins(),
            credential_public_key=_b64decode(device.public_key),
            credential_current_sign_count=device.sign_count,
            require_user_verification=True,
        )
    except WebAuthnException as exc:
        _assertion_refused(user=user, device=device, purpose=purpose, reason=str(exc))
    for verifier in _assertion_verifiers:
        verifier(user=user, assertion=assertion, device=device, binding=binding, context=verifier_context or {})
    WebAuthnDevice.objects.filter(pk=device.pk).update(
        sign_count=verified.new_sign_count, backed_up=verified.credential_backed_up, last_used_at=timezone.now()
    )
    device.sign_count = verified.new_sign_count
    return device


def _assertion_refused(*, user: User, device: WebAuthnDevice, purpose: str, reason: str):
    if "sign count" in reason:
        # The authenticator's counter went back: a copy of the credential may be in use elsewhere.
        _audit(
            user, "accounts.passkey_clone_suspected", purpose, f"{device.persistent_id}: {reason}", outcome="failure"
        )
        raise PasskeyRefused(
            _(
                "This passkey's signature counter went backwards, as when a copied key is used; it is refused. "
                "Tell your IT administrator."
            ),
            code="passkey_counter",
        )
    _audit(user, "accounts.mfa_failed", purpose, f"{device.persistent_id}: {reason}")
    if "User verification" in reason:
        raise PasskeyRefused(
            _("The passkey did not verify you (PIN or fingerprint); unlock it and try again."),
            code="passkey_user_not_verified",
        )
    raise PasskeyRefused(_("The passkey response could not be verified; try again."), code="passkey_refused")


def passkey_step_up(
    *,
    user: User,
    assertion,
    purpose: str,
    binding: str,
    request=None,
    verifier_context: dict | None = None,
) -> WebAuthnDevice:
    """``mfa_step_up`` with a passkey: the assertion must answer this session's challenge for ``binding``."""
    from .mfa import _step_up_record

    device = passkey_verify(
        user=user,
        assertion=assertion,
        purpose=purpose,
        binding=binding,
        request=request,
        verifier_context=verifier_context,
    )
    _step_up_record(user=user, device=device, purpose=purpose, request=request)
    return device
