"""MFA step-up before signing: verifying codes, challenges, the audit trail of factors."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp import device_classes
from django_otp.models import Device
from django_otp.plugins.otp_email.models import EmailDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

import audit
from core.errors import DomainError

from ..models import ChallengeRefused, SMSDevice, StepUp, User, WebAuthnDevice


class StepUpFailed(DomainError):
    """The one-time code was refused (403). `throttled` means the factor is locked for a while (429)."""

    status = 403
    code = "step_up_failed"

    def __init__(self, message: str, *, throttled: bool = False, code: str | None = None):
        super().__init__(message, code="step_up_throttled" if throttled else code, status=429 if throttled else None)
        self.throttled = throttled


class MFAError(DomainError):
    """An enrolment, challenge or sign-in request that cannot be done; the message is for the user."""

    code = "mfa_refused"

    def __init__(self, message: str, *, status: int = 400, code: str | None = None):
        super().__init__(message, code=code, status=status)


def _hhmm(moment) -> str:
    return timezone.localtime(moment).strftime("%H:%M:%S")


def _locked_until(device) -> object | None:
    check = getattr(device, "verify_is_allowed", None)
    if check is None:
        return None
    allowed, data = check()
    if allowed:
        return None
    return (data or {}).get("locked_until") or timezone.now() + timedelta(minutes=1)


def _code_verify(
    *,
    user: User,
    code: str,
    purpose: str,
    devices: list | None = None,
    min_aal: int = 1,
    verifier_context: dict | None = None,
) -> Device:
    """The confirmed device that accepts `code`; StepUpFailed (audited) otherwise.

    Devices lock themselves after a wrong code for 1, 2, 4, 8… seconds (django-otp throttling); a locked
    device does not accept even a correct code until its delay has passed. Devices whose secrets are
    sealed for the signer are checked by the registered code verifier (signing); `verifier_context` is
    handed to it (a signature activation asks it for activation data there).
    """
    from ..selectors import device_aal, device_kind

    code = (code or "").strip().replace(" ", "")
    if devices is None:
        # The code devices first; passkeys are read only when none of them may take the code (the
        # refusal then says whether a passkey would do).
        devices = _code_devices(user)
        if not any(device_aal(device) >= min_aal for device in devices):
            devices += list(WebAuthnDevice.objects.devices_for_user(user, confirmed=True))
    if not devices:
        _audit(user, "accounts.mfa_failed", purpose, "no MFA device")
        raise StepUpFailed(_("You have no MFA device set up; enrol one before signing."))
    # Factors weaker than asked for are not even tried, so a code from one of them is not spent.
    strong_enough = [device for device in devices if device_aal(device) >= min_aal]
    # A passkey answers a challenge, never a typed code (accounts.services.passkeys).
    devices = [device for device in strong_enough if device_kind(device) != "webauthn"]
    if not devices and strong_enough and min_aal < 3:
        _audit(user, "accounts.mfa_failed", purpose, "a code from a user who has passkeys only")
        raise StepUpFailed(
            _("Your factors are passkeys: confirm with your passkey (Use a passkey) instead of a code."),
            code="passkey_required",
        )
    if not devices and min_aal >= 3:
        _audit(user, "accounts.mfa_failed", purpose, "a code where a passkey (AAL3) is required")
        raise StepUpFailed(
            _(
                "This document must be approved with a passkey (AAL3, phishing-resistant); one-time codes "
                "from an authenticator app, SMS, e-mail or backup codes are not accepted."
            ),
            code="passkey_required",
        )
    if not devices:
        _audit(user, "accounts.mfa_failed", purpose, f"no factor of AAL{min_aal} or higher")
        raise StepUpFailed(
            _(
                "This document needs a stronger factor (AAL%(level)s: an authenticator app or a passkey); "
                "codes by SMS, e-mail or backup codes are not enough."
            )
            % {"level": min_aal},
            code="factor_too_weak",
        )
    if not code:
        raise StepUpFailed(_("A one-time code (OTP) is required to sign."))
    locks, usable = [], []
    for device in devices:
        locked_until = _locked_until(device)
        if locked_until is not None:
            locks.append(locked_until)
        else:
            usable.append(device)
    handled: set[str] = set()
    for verifier in _code_verifiers:
        verdict = verifier(user=user, code=code, devices=usable, context=verifier_context or {})
        handled |= verdict.handled
        if verdict.device is not None:
            return next(d for d in usable if d.persistent_id == verdict.device)
    for device in usable:
        if device.persistent_id not in handled and device.verify_token(code):
            return device
    if locks and len(locks) == len(devices):
        until = min(locks)
        _audit(user, "accounts.mfa_throttled", purpose, f"locked until {until.isoformat()}")
        raise StepUpFailed(
            _("Too many wrong codes: signing is locked until %(time)s; try again then.") % {"time": _hhmm(until)},
            throttled=True,
        )
    if any(_code_expired(device, code) for device in devices):
        _audit(user, "accounts.mfa_failed", purpose, "expired code")
        raise StepUpFailed(_("The code has expired; ask for a new one and enter it."))
    _audit(user, "accounts.mfa_failed", purpose, "wrong code")
    if locks:
        raise StepUpFailed(
            _("The code is wrong; some of your devices are locked until %(time)s.") % {"time": _hhmm(min(locks))}
        )
    raise StepUpFailed(_("The code is wrong; check it and try again."))


def _code_devices(user: User) -> list[Device]:
    """The user's confirmed devices that take a typed code (every device model but passkeys)."""
    return [
        device
        for model in device_classes()
        if model is not WebAuthnDevice
        for device in model.objects.devices_for_user(user, confirmed=True)
    ]


def _code_expired(device, code: str) -> bool:
    """A code sent by e-mail or SMS that matches but is past its validity (told apart from a wrong one)."""
    token = getattr(device, "token", None)
    valid_until = getattr(device, "valid_until", None)
    return bool(token and valid_until and token == code and valid_until < timezone.now())


def mfa_step_up(
    *,
    user: User,
    code: str,
    purpose: str = "sign",
    request=None,
    min_aal: int = 1,
    verifier_context: dict | None = None,
) -> Device:
    """Check a one-time code against the user's confirmed devices of at least `min_aal`; raise
    StepUpFailed when refused.

    A success is recorded as the user's latest step-up (`StepUp`, shown in the admin); it opens no
    window: every approval needs its own code (workflows.services.decision_approve).
    """
    device = _code_verify(user=user, code=code, purpose=purpose, min_aal=min_aal, verifier_context=verifier_context)
    _step_up_record(user=user, device=device, purpose=purpose, request=request)
    return device


# Code verifiers other apps register (signing: factors sealed for its signer process). Each is called
# with (user, code, devices, context) for the devices not locked, keeps their django-otp throttling up
# to date, and returns an object with `device` (the persistent id of the device the code matched, or
# None) and `handled` (the ids only it can check).
_code_verifiers: list = []


def _code_matches(*, user: User, device: Device, code: str) -> bool:
    for verifier in _code_verifiers:
        verdict = verifier(user=user, code=code, devices=[device], context={})
        if device.persistent_id in verdict.handled:
            return verdict.device == device.persistent_id
    return device.verify_token(code)


def code_verifier_register(verifier) -> None:
    if verifier not in _code_verifiers:
        _code_verifiers.append(verifier)


def step_up_record(*, user: User, device: Device, purpose: str = "sign", request=None) -> None:
    """Record a step-up that another component verified (the signer, for a signature activation)."""
    _step_up_record(user=user, device=device, purpose=purpose, request=request)


def mfa_failed_record(*, user: User, purpose: str, detail: str) -> None:
    _audit(user, "accounts.mfa_failed", purpose, detail)


def _step_up_record(*, user: User, device: Device, purpose: str, request) -> None:
    session_key = ""
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        session_key = session.session_key
    fields = {
        "verified_at": timezone.now(),
        "purpose": purpose[:40],
        "device": device.persistent_id[:100],
        "session_key": session_key,
    }
    with transaction.atomic(savepoint=False):
        # One row per user: an UPDATE, and the INSERT only the first time (no savepoint on the way).
        if not StepUp.objects.filter(user=user).update(**fields):
            StepUp.objects.create(user=user, **fields)
        _audit(user, "accounts.mfa_verified", purpose, device.persistent_id)


def user_device(*, user: User, device_id: str, confirmed: bool | None = True) -> Device:
    """One of the user's devices by its persistent id ('otp_totp.totpdevice/3'); MFAError 404 otherwise."""
    device = Device.from_persistent_id(device_id or "")
    if device is None or device.user_id != user.pk or (confirmed is not None and device.confirmed != confirmed):
        raise MFAError(_("No such MFA device."), status=404)
    return device


def mfa_challenge(*, user: User, device_id: str) -> str:
    """Send a code to the user's e-mail or SMS device (for signing or to confirm enrolment)."""
    device = user_device(user=user, device_id=device_id, confirmed=None)
    if not isinstance(device, EmailDevice | SMSDevice):
        raise MFAError(_("This device shows its own codes; nothing is sent."))
    if isinstance(device, EmailDevice):
        if not (device.email or user.email):
            raise MFAError(_("No e-mail address is set for this device."))
        allowed, data = device.generate_is_allowed()
        if not allowed:
            raise MFAError(
                _("A code was sent a moment ago; ask again after %(time)s.")
                % {"time": _hhmm(data["next_generation_at"])},
                status=429,
            )
    from ..sms import SMSError

    try:
        message = device.generate_challenge()
    except ChallengeRefused as exc:
        raise MFAError(str(exc), status=429)
    except SMSError as exc:
        _audit(user, "accounts.mfa_challenge", "challenge", f"{device.persistent_id}: {exc}", outcome="failure")
        raise MFAError(_("The SMS could not be sent; try again or use another method."), status=503)
    _audit(user, "accounts.mfa_challenge", "challenge", device.persistent_id, outcome="success")
    return str(message)


@dataclass(frozen=True)
class TotpEnrolment:
    device: TOTPDevice
    uri: str
    qr_svg: str


def qr_svg(text: str) -> str:
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue().decode()


def _audit(user, action: str, purpose: str, detail: str, *, outcome: str | None = None) -> None:
    if outcome is None:
        outcome = "failure" if action.endswith(("failed", "throttled")) else "success"
    audit.record(
        actor=user,
        action=action,
        target=user,
        outcome=outcome,
        details={"purpose": purpose, "detail": detail},
    )
