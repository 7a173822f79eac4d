"""The factor lifecycle: a factor is added, confirmed, replaced or removed only with a factor."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp import devices_for_user
from django_otp.models import Device
from django_otp.plugins.otp_email.models import EmailDevice
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

import audit
from core import passkeys as binding_rules

from ..models import SMSDevice, User, WebAuthnDevice
from . import passkeys
from .credentials import _hhmm_date, security_notice_send
from .mfa import (
    MFAError,
    StepUpFailed,
    TotpEnrolment,
    _audit,
    _code_matches,
    _code_verify,
    _hhmm,
    _locked_until,
    qr_svg,
    user_device,
)
from .passkeys import passkey_verify

# --- factor lifecycle: a factor is added, confirmed, replaced or removed only with a factor ---------------

SIGNED_IN_AT_SESSION_KEY = "accounts_signed_in_at"


class FactorChangeRefused(MFAError):
    """The change needs a code from a device the user already has (or, for a first device, the rules below)."""

    code = "factor_required"

    def __init__(self, message: str, *, status: int = 403):
        super().__init__(message, status=status)


def _signed_in_recently(*, user: User, request) -> bool:
    """True in the browser session where `user` signed in less than MFA_FIRST_ENROLMENT_WINDOW_SECONDS ago."""
    session = getattr(request, "session", None)
    if session is None or str(session.get("_auth_user_id", "")) != str(user.pk):
        return False
    signed_in_at = session.get(SIGNED_IN_AT_SESSION_KEY)
    if not isinstance(signed_in_at, int | float):
        return False
    age = timezone.now().timestamp() - signed_in_at
    return 0 <= age <= settings.MFA_FIRST_ENROLMENT_WINDOW_SECONDS


def sign_in_mark(*, request) -> None:
    """Remember when this browser session signed in (the first-enrolment window starts here)."""
    session = getattr(request, "session", None)
    if session is not None:
        session[SIGNED_IN_AT_SESSION_KEY] = timezone.now().timestamp()


def _enrolment_code_hash(code: str) -> str:

    normalised = "".join(ch for ch in (code or "") if ch.isalnum()).upper()
    return hashlib.sha256(f"dsign-enrolment:{normalised}".encode()).hexdigest()


def _enrolment_code_consume(*, user: User, code: str) -> int | None:
    """Use up a valid enrolment code of `user` (conditional UPDATE, so it works exactly once)."""
    from ..models import EnrolmentCode

    if not (code or "").strip():
        return None
    now = timezone.now()
    candidate = EnrolmentCode.objects.filter(
        user=user, code_sha256=_enrolment_code_hash(code), used_at__isnull=True, expires_at__gt=now
    ).first()
    if candidate is None:
        return None
    claimed = EnrolmentCode.objects.filter(pk=candidate.pk, used_at__isnull=True).update(used_at=now)
    return candidate.pk if claimed else None


def factor_change_authorise(
    *,
    user: User,
    otp: str = "",
    enrolment_code: str = "",
    request=None,
    purpose: str = "mfa_change",
    webauthn=None,
) -> str:
    """How a change of the user's factors is allowed, or FactorChangeRefused (403, audited).

    Runs outside the change's transaction: a wrong code must count towards the device's throttle and
    leave its audit event even though the change is refused.

    A user who has a confirmed device must give a fresh code from one of them. A user with none may add
    the first one with a one-time enrolment code an admin had sent them, or in the browser session where
    they signed in less than MFA_FIRST_ENROLMENT_WINDOW_SECONDS ago; a password or an API token alone
    never adds, confirms or removes a factor. Instead of a code, `webauthn` may be an assertion of one of
    the user's passkeys answering this session's "mfa_change" challenge (`passkey_change_options`).
    """
    confirmed = list(devices_for_user(user, confirmed=True))
    if confirmed and webauthn:
        try:
            device = passkey_verify(
                user=user,
                assertion=webauthn,
                purpose=passkeys.FACTOR_CHANGE,
                binding=binding_rules.purpose_binding(passkeys.FACTOR_CHANGE),
                request=request,
            )
        except passkeys.PasskeyRefused as exc:
            raise FactorChangeRefused(exc.message, status=exc.status) from exc
        return f"passkey:{device.persistent_id}"
    if confirmed:
        if not (otp or "").strip():
            _audit(user, "accounts.mfa_change_refused", purpose, "no code from an existing device")
            raise FactorChangeRefused(
                _("A code from one of your MFA devices is required to change your factors (field otp).")
            )
        try:
            device = _code_verify(user=user, code=otp, purpose=purpose, devices=confirmed)
        except StepUpFailed as exc:
            raise FactorChangeRefused(exc.message, status=429 if exc.throttled else 403) from exc
        return f"otp:{device.persistent_id}"
    code_id = _enrolment_code_consume(user=user, code=enrolment_code)
    if code_id is not None:
        return f"enrolment-code:{code_id}"
    if _signed_in_recently(user=user, request=request):
        return "first-enrolment:sign-in"
    _audit(user, "accounts.mfa_change_refused", purpose, "first enrolment outside the window, no enrolment code")
    raise FactorChangeRefused(
        _(
            "Your first MFA device can be added only shortly after you sign in with your password, or with "
            "the one-time enrolment code your administrator had sent you. Sign in again, or ask for a code."
        )
    )


def _pending_record(*, user: User, device: Device, authorised_by: str) -> None:
    from ..models import PendingEnrolment

    PendingEnrolment.objects.update_or_create(
        device_id=device.persistent_id, defaults={"user": user, "authorised_by": authorised_by[:120]}
    )


def _pending_authorisation(*, user: User, device: Device) -> str | None:
    from ..models import PendingEnrolment

    pending = PendingEnrolment.objects.filter(user=user, device_id=device.persistent_id).first()
    if pending is None:
        return None
    if timezone.now() - pending.created_at > timedelta(seconds=settings.MFA_FIRST_ENROLMENT_WINDOW_SECONDS):
        pending.delete()
        return None
    return pending.authorised_by


def _factor_changed(*, user: User, action: str, device_id: str, authorised_by: str, actor=None, what: str) -> None:
    """Audit one change of the user's factors and e-mail the user about it (after commit)."""
    audit.record(
        actor=actor or user,
        action=action,
        target=user,
        details={"device": device_id, "authorised_by": authorised_by},
    )
    security_notice_send(user=user, what=what)


def totp_enrol_start(
    *, user: User, name: str = "Authenticator", otp: str = "", enrolment_code: str = "", request=None, webauthn=None
) -> TotpEnrolment:
    """A new unconfirmed TOTP device and its otpauth:// URI (issuer = OTP_TOTP_ISSUER) as an SVG QR code."""
    how = factor_change_authorise(user=user, otp=otp, enrolment_code=enrolment_code, request=request, webauthn=webauthn)
    with transaction.atomic():
        return _totp_enrol(user=user, name=name, how=how)


def _totp_enrol(*, user: User, name: str, how: str) -> TotpEnrolment:
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    device = TOTPDevice.objects.create(user=user, name=name[:64] or "Authenticator", confirmed=False)
    _enrol_started(user=user, device=device, how=how)
    uri = device.config_url
    return TotpEnrolment(device=device, uri=uri, qr_svg=qr_svg(uri))


@transaction.atomic
def email_device_add(
    *, user: User, email: str = "", otp: str = "", enrolment_code: str = "", request=None, webauthn=None
) -> EmailDevice:
    if not (email or user.email):
        raise MFAError("Give an e-mail address for the codes.")
    how = factor_change_authorise(user=user, otp=otp, enrolment_code=enrolment_code, request=request, webauthn=webauthn)
    with transaction.atomic():
        device = EmailDevice.objects.create(user=user, name="E-mail", email=email or None, confirmed=False)
        _enrol_started(user=user, device=device, how=how)
    return device


def _enrol_started(*, user: User, device: Device, how: str) -> None:
    _pending_record(user=user, device=device, authorised_by=how)
    audit.record(
        actor=user,
        action="accounts.mfa_enrol_started",
        target=user,
        details={"device": device.persistent_id, "authorised_by": how},
    )


def sms_device_add(
    *, user: User, phone: str, otp: str = "", enrolment_code: str = "", request=None, webauthn=None
) -> SMSDevice:
    phone = "".join(ch for ch in (phone or "") if ch.isdigit() or ch == "+")
    if len(phone) < 9:
        raise MFAError("Give a mobile number for the codes.")
    how = factor_change_authorise(user=user, otp=otp, enrolment_code=enrolment_code, request=request, webauthn=webauthn)
    with transaction.atomic():
        device = SMSDevice.objects.create(user=user, name="SMS", phone=phone, confirmed=False)
        _enrol_started(user=user, device=device, how=how)
    return device


def passkey_change_options(*, user: User, request=None) -> dict:
    """navigator.credentials.get() options for authorising a change of factors with a passkey."""
    return passkeys.passkey_options(
        user=user,
        purpose=passkeys.FACTOR_CHANGE,
        binding=binding_rules.purpose_binding(passkeys.FACTOR_CHANGE),
        request=request,
    )


def passkey_register_options(
    *, user: User, otp: str = "", enrolment_code: str = "", webauthn=None, request=None
) -> dict:
    """navigator.credentials.create() options ({"publicKey": …}) for a new passkey.

    Authorised now, like every new factor (`factor_change_authorise`); the challenge carries that
    authorisation, so `passkey_register` needs only the new credential, from this session, in time.
    """
    import json

    from webauthn import generate_registration_options, options_to_json
    from webauthn.helpers.structs import (
        AuthenticatorSelectionCriteria,
        ResidentKeyRequirement,
        UserVerificationRequirement,
    )

    how = factor_change_authorise(
        user=user, otp=otp, enrolment_code=enrolment_code, webauthn=webauthn, request=request, purpose="mfa_enrol"
    )
    challenge = passkeys.challenge_issue(
        user=user,
        purpose=passkeys.REGISTER,
        binding=binding_rules.purpose_binding(passkeys.REGISTER),
        request=request,
        authorised_by=how,
    )
    options = generate_registration_options(
        rp_id=settings.WEBAUTHN_RP_ID,
        rp_name=settings.WEBAUTHN_RP_NAME,
        user_name=user.username,
        user_id=hashlib.sha256(f"dsign-user-handle|{user.pk}".encode()).digest(),
        user_display_name=user.full_name_th,
        challenge=challenge,
        timeout=settings.WEBAUTHN_CHALLENGE_SECONDS * 1000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED, user_verification=UserVerificationRequirement.REQUIRED
        ),
        exclude_credentials=passkeys.descriptors_of(user),
    )
    audit.record(
        actor=user,
        action="accounts.mfa_enrol_started",
        target=user,
        details={"device": "passkey", "authorised_by": how},
    )
    return {"publicKey": json.loads(options_to_json(options))}


def passkey_register(*, user: User, credential, name: str = "", request=None) -> WebAuthnDevice:
    """Add the passkey the browser created for this session's registration challenge (user verified)."""
    from webauthn import verify_registration_response
    from webauthn.helpers import bytes_to_base64url
    from webauthn.helpers.exceptions import WebAuthnException

    parsed, challenge = passkeys.parse_registration(credential)
    row = passkeys.challenge_spend(
        user=user,
        challenge=challenge,
        purpose=passkeys.REGISTER,
        binding=binding_rules.purpose_binding(passkeys.REGISTER),
        request=request,
    )
    try:
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=settings.WEBAUTHN_RP_ID,
            expected_origin=list(settings.WEBAUTHN_ORIGINS),
            require_user_verification=True,
        )
    except WebAuthnException as exc:
        _audit(user, "accounts.mfa_enrol_failed", "enrol", f"passkey: {exc}", outcome="failure")
        raise MFAError(
            _("The new passkey could not be verified (it must check your PIN or fingerprint); try again."),
            status=403,
            code="passkey_refused",
        ) from exc
    credential_id = bytes_to_base64url(verified.credential_id)
    if WebAuthnDevice.objects.filter(credential_id=credential_id).exists():
        raise MFAError(_("This passkey is already registered."), status=409, code="passkey_exists")
    transports = [str(getattr(t, "value", t)) for t in (parsed.response.transports or [])]
    with transaction.atomic():
        device = WebAuthnDevice.objects.create(
            user=user,
            name=(name or "").strip()[:64] or "Passkey",
            confirmed=True,
            credential_id=credential_id,
            public_key=bytes_to_base64url(verified.credential_public_key),
            sign_count=verified.sign_count,
            aaguid=str(verified.aaguid or "")[:36],
            transports=transports,
            backed_up=bool(getattr(verified, "credential_backed_up", False)),
        )
        _factor_changed(
            user=user,
            action="accounts.mfa_enrolled",
            device_id=device.persistent_id,
            authorised_by=row.authorised_by,
            what=_("a new passkey was added (%(name)s)") % {"name": device.name},
        )
    return device


def device_confirm(*, user: User, device_id: str, code: str, otp: str = "", request=None, webauthn=None) -> Device:
    """Confirm an enrolment with the first code the new device produced or received.

    The enrolment must have been authorised when it started (see `factor_change_authorise`); a pending
    device without that (or whose authorisation is older than the window) also needs `otp`.
    """
    device = user_device(user=user, device_id=device_id, confirmed=False)
    allowed_until = _locked_until(device)
    if allowed_until is not None:
        raise MFAError(f"Too many wrong codes: try again after {_hhmm(allowed_until)}.", status=429)
    how = _pending_authorisation(user=user, device=device)
    if how is None:
        how = factor_change_authorise(user=user, otp=otp, request=request, purpose="mfa_confirm", webauthn=webauthn)
    if not _code_matches(user=user, device=device, code=(code or "").strip()):
        _audit(user, "accounts.mfa_enrol_failed", "enrol", device.persistent_id, outcome="failure")
        raise MFAError("The code is wrong or expired.", status=403)
    from ..models import PendingEnrolment

    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        PendingEnrolment.objects.filter(device_id=device.persistent_id).delete()
        _factor_changed(
            user=user,
            action="accounts.mfa_enrolled",
            device_id=device.persistent_id,
            authorised_by=how,
            what=_("a new MFA device was added (%(name)s)") % {"name": device.name},
        )
    return device


def static_codes_generate(
    *, user: User, count: int = 10, otp: str = "", enrolment_code: str = "", request=None, webauthn=None
) -> list[str]:
    """Replace the user's backup codes with `count` new ones; each works once."""
    how = factor_change_authorise(user=user, otp=otp, enrolment_code=enrolment_code, request=request, webauthn=webauthn)
    with transaction.atomic():
        return _static_codes_replace(user=user, count=count, how=how)


def _static_codes_replace(*, user: User, count: int, how: str) -> list[str]:
    device, _created = StaticDevice.objects.get_or_create(user=user, name="Backup codes", defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _n in range(count)]
    for code in codes:
        # One by one: saving a token is what seals it for the signer (signing.signals).
        StaticToken.objects.create(device=device, token=code)
    if not device.confirmed:
        device.confirmed = True
        device.save(update_fields=["confirmed"])
    _factor_changed(
        user=user,
        action="accounts.backup_codes_generated",
        device_id=device.persistent_id,
        authorised_by=how,
        what=_("new backup codes were generated"),
    )
    return codes


def device_delete(*, user: User, device_id: str, otp: str = "", request=None, webauthn=None) -> None:
    device = user_device(user=user, device_id=device_id, confirmed=None)
    how = factor_change_authorise(user=user, otp=otp, request=request, purpose="mfa_remove", webauthn=webauthn)
    with transaction.atomic():
        _device_delete(user=user, device=device, how=how)


def _device_delete(*, user: User, device: Device, how: str) -> None:
    persistent_id = device.persistent_id
    device.delete()
    from ..models import PendingEnrolment

    PendingEnrolment.objects.filter(device_id=persistent_id).delete()
    _factor_changed(
        user=user,
        action="accounts.mfa_removed",
        device_id=persistent_id,
        authorised_by=how,
        what=_("an MFA device was removed (%(name)s)") % {"name": device.name},
    )


@transaction.atomic
def device_remove_by_admin(*, device: Device, actor: User) -> None:
    """An admin removes a device (lost phone): the user must enrol again. Admins never add devices."""
    user = device.user
    persistent_id = device.persistent_id
    device.delete()
    _factor_changed(
        user=user,
        action="accounts.mfa_removed_by_admin",
        device_id=persistent_id,
        authorised_by=f"admin:{actor.username}",
        actor=actor,
        what=_("an administrator (%(admin)s) removed an MFA device (%(name)s)")
        % {"admin": actor.username, "name": device.name},
    )


def user_devices_remove_by_admin(*, user: User, actor: User) -> int:
    removed = 0
    for device in list(devices_for_user(user, confirmed=None)):
        device_remove_by_admin(device=device, actor=actor)
        removed += 1
    return removed


@transaction.atomic
def enrolment_code_issue(*, user: User, actor: User) -> None:
    """Send `user` a one-time code to enrol a first device. The admin never sees it (only its hash is kept)."""

    from ..models import EnrolmentCode

    if not user.is_active:
        raise MFAError(_("%(user)s is not an active user.") % {"user": user.username})
    if not user.email:
        raise MFAError(_("%(user)s has no e-mail address to send the code to.") % {"user": user.username})
    if any(True for _d in devices_for_user(user, confirmed=True)):
        raise MFAError(
            _("%(user)s already has an MFA device; remove the devices first if they were lost.")
            % {"user": user.username}
        )
    EnrolmentCode.objects.filter(user=user, used_at__isnull=True).update(used_at=timezone.now())
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    code = "".join(secrets.choice(alphabet) for _n in range(12))
    shown = "-".join(code[i : i + 4] for i in range(0, 12, 4))
    expires = timezone.now() + timedelta(hours=settings.MFA_ENROLMENT_CODE_HOURS)
    record = EnrolmentCode.objects.create(
        user=user, code_sha256=_enrolment_code_hash(code), issued_by=actor, expires_at=expires
    )
    audit.record(
        actor=actor,
        action="accounts.enrolment_code_issued",
        target=user,
        details={"code_id": record.pk, "expires_at": expires},
    )
    security_notice_send(
        user=user,
        what=_("an administrator (%(admin)s) asked you to set up multi-factor authentication")
        % {"admin": actor.username},
        extra=_(
            "Your one-time enrolment code: %(code)s (valid until %(until)s). Enter it on the MFA page "
            "when you add your first device."
        )
        % {"code": shown, "until": _hhmm_date(expires)},
    )
