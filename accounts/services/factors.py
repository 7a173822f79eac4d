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

from ..models import SMSDevice, User
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
    *, user: User, otp: str = "", enrolment_code: str = "", request=None, purpose: str = "mfa_change"
) -> str:
    """How a change of the user's factors is allowed, or FactorChangeRefused (403, audited).

    Runs outside the change's transaction: a wrong code must count towards the device's throttle and
    leave its audit event even though the change is refused.

    A user who has a confirmed device must give a fresh code from one of them. A user with none may add
    the first one with a one-time enrolment code an admin had sent them, or in the browser session where
    they signed in less than MFA_FIRST_ENROLMENT_WINDOW_SECONDS ago; a password or an API token alone
    never adds, confirms or removes a factor.
    """
    confirmed = list(devices_for_user(user, confirmed=True))
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
    *, user: User, name: str = "Authenticator", otp: str = "", enrolment_code: str = "", request=None
) -> TotpEnrolment:
    """A new unconfirmed TOTP device and its otpauth:// URI (issuer = OTP_TOTP_ISSUER) as an SVG QR code."""
    how = factor_change_authorise(user=user, otp=otp, enrolment_code=enrolment_code, request=request)
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
    *, user: User, email: str = "", otp: str = "", enrolment_code: str = "", request=None
) -> EmailDevice:
    if not (email or user.email):
        raise MFAError("Give an e-mail address for the codes.")
    how = factor_change_authorise(user=user, otp=otp, enrolment_code=enrolment_code, request=request)
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


def sms_device_add(*, user: User, phone: str, otp: str = "", enrolment_code: str = "", request=None) -> SMSDevice:
    phone = "".join(ch for ch in (phone or "") if ch.isdigit() or ch == "+")
    if len(phone) < 9:
        raise MFAError("Give a mobile number for the codes.")
    how = factor_change_authorise(user=user, otp=otp, enrolment_code=enrolment_code, request=request)
    with transaction.atomic():
        device = SMSDevice.objects.create(user=user, name="SMS", phone=phone, confirmed=False)
        _enrol_started(user=user, device=device, how=how)
    return device


def device_confirm(*, user: User, device_id: str, code: str, otp: str = "", request=None) -> Device:
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
        how = factor_change_authorise(user=user, otp=otp, request=request, purpose="mfa_confirm")
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
    *, user: User, count: int = 10, otp: str = "", enrolment_code: str = "", request=None
) -> list[str]:
    """Replace the user's backup codes with `count` new ones; each works once."""
    how = factor_change_authorise(user=user, otp=otp, enrolment_code=enrolment_code, request=request)
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


def device_delete(*, user: User, device_id: str, otp: str = "", request=None) -> None:
    device = user_device(user=user, device_id=device_id, confirmed=None)
    how = factor_change_authorise(user=user, otp=otp, request=request, purpose="mfa_remove")
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
