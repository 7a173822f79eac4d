"""Identity services: MFA enrolment and step-up before signing, directory roles, login history."""

from __future__ import annotations

import hashlib
import io
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp import devices_for_user
from django_otp.models import Device
from django_otp.plugins.otp_email.models import EmailDevice
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

import audit
from core.errors import DomainError
from core.roles import ALL_ROLES, STAFF_ROLES, has_role

from .models import ApiToken, ChallengeRefused, ExternalIdentity, SMSDevice, StepUp, User


class StepUpFailed(DomainError):
    """The one-time code was refused (403). `throttled` means the factor is locked for a while (429)."""

    status = 403
    code = "step_up_failed"

    def __init__(self, message: str, *, throttled: bool = False):
        super().__init__(message, code="step_up_throttled" if throttled else None, status=429 if throttled else None)
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
    code = (code or "").strip().replace(" ", "")
    devices = list(devices_for_user(user, confirmed=True)) if devices is None else devices
    if not devices:
        _audit(user, "accounts.mfa_failed", purpose, "no MFA device")
        raise StepUpFailed(_("You have no MFA device set up; enrol one before signing."))
    # Factors weaker than asked for are not even tried, so a code from one of them is not spent.
    from .selectors import device_aal

    devices = [device for device in devices if device_aal(device) >= min_aal]
    if not devices:
        _audit(user, "accounts.mfa_failed", purpose, f"no factor of AAL{min_aal} or higher")
        raise StepUpFailed(
            f"This document needs a stronger factor (AAL{min_aal}: an authenticator app or a passkey); "
            f"codes by SMS, e-mail or backup codes are not enough. "
            f"เอกสารนี้ต้องยืนยันตัวตนด้วยปัจจัยระดับ AAL{min_aal} ขึ้นไป (แอปยืนยันตัวตนหรือพาสคีย์)"
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
    with transaction.atomic():
        StepUp.objects.update_or_create(
            user=user,
            defaults={
                "verified_at": timezone.now(),
                "purpose": purpose[:40],
                "device": device.persistent_id[:100],
                "session_key": session_key,
            },
        )
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
    from .sms import SMSError

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
    import hashlib

    normalised = "".join(ch for ch in (code or "") if ch.isalnum()).upper()
    return hashlib.sha256(f"dsign-enrolment:{normalised}".encode()).hexdigest()


def _enrolment_code_consume(*, user: User, code: str) -> int | None:
    """Use up a valid enrolment code of `user` (conditional UPDATE, so it works exactly once)."""
    from .models import EnrolmentCode

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
    from .models import PendingEnrolment

    PendingEnrolment.objects.update_or_create(
        device_id=device.persistent_id, defaults={"user": user, "authorised_by": authorised_by[:120]}
    )


def _pending_authorisation(*, user: User, device: Device) -> str | None:
    from .models import PendingEnrolment

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
    from .models import PendingEnrolment

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
    from .models import PendingEnrolment

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
    import secrets

    from .models import EnrolmentCode

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


def _hhmm_date(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


# --- security notices, passwords and credentials ------------------------------------------------------


def security_notice_send(*, user: User, what: str, extra: str = "") -> None:
    """E-mail the user (branded) that something about their sign-in or factors changed; after commit."""
    if not user.email:
        return
    from django.core.mail import get_connection
    from django.template.loader import render_to_string

    from audit.context import current_request
    from branding.email import branded_email, has_logo
    from branding.selectors import branding_get

    context = {
        "user": user,
        "what": what,
        "extra": extra,
        "when": _hhmm_date(timezone.now()),
        "ip_address": current_request.get().ip_address or "",
        "organization": branding_get().name,
        "has_logo": has_logo(),
        "mfa_url": f"{settings.BASE_URL}/accounts/mfa/",
    }
    text = render_to_string("emails/accounts/security_notice.txt", context)
    html = render_to_string("emails/accounts/security_notice.html", context)
    subject = f"[{context['organization']}] " + _("Security notice: %(what)s") % {"what": what}
    message = branded_email(subject=subject, text=text, html=html, to=[user.email])

    def send() -> None:
        try:
            message.connection = get_connection()
            message.send()
        except Exception as exc:  # noqa: BLE001 - mail trouble must not undo the change; it is audited
            with transaction.atomic():
                audit.record(
                    actor=None,
                    action="accounts.security_notice_failed",
                    target=user,
                    outcome="failure",
                    details={"error": str(exc)[:300]},
                )

    transaction.on_commit(send)


def _user_sessions(user: User):
    from django.contrib.sessions.models import Session

    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id", "")) == str(user.pk):
            yield session.session_key


@transaction.atomic
def credentials_revoke_all(*, user: User, reason: str, keep_session_key: str | None = None) -> dict:
    """Revoke everything that lets someone act as `user` without the password: API tokens, the other
    browser sessions, the current MFA step-up. Called on every password change or reset.

    The one place that knows every kind of credential (the API token engineer extends it).
    """
    from importlib import import_module

    # Personal tokens are revoked (kept, hashed, for the record), not deleted.
    tokens = ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason[:200]
    )
    # Live sessions are few (idle timeout); they are decoded to find the user's.
    keys = [key for key in _user_sessions(user) if key != keep_session_key]
    store = import_module(settings.SESSION_ENGINE).SessionStore
    for key in keys:
        store(session_key=key).delete()  # through the engine, so a cached_db cache forgets it too
    sessions = len(keys)
    StepUp.objects.filter(user=user).delete()
    audit.record(
        actor=None,
        action="accounts.credentials_revoked",
        target=user,
        details={"reason": reason[:100], "api_tokens": tokens, "sessions": sessions},
    )
    return {"api_tokens": tokens, "sessions": sessions}


@transaction.atomic
def password_changed(*, user: User, keep_session_key: str | None = None) -> None:
    """After any change of the password (the user, a reset link, a superuser, a command): audit, revoke
    the other credentials, tell the user."""
    audit.record(actor=None, action="accounts.password_changed", target=user, details={})
    credentials_revoke_all(user=user, reason="password_changed", keep_session_key=keep_session_key)
    security_notice_send(user=user, what=_("your password was changed"))


@transaction.atomic
def password_reset_link_send(*, user: User, actor: User) -> None:
    """An admin's reset: the user gets a link to set a password themselves; the admin never sets it."""
    from django.contrib.auth.tokens import default_token_generator
    from django.urls import reverse
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    if not user.email:
        raise MFAError(_("%(user)s has no e-mail address to send the link to.") % {"user": user.username})
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    link = settings.BASE_URL + reverse(
        "password_reset_confirm", kwargs={"uidb64": uid, "token": default_token_generator.make_token(user)}
    )
    audit.record(actor=actor, action="accounts.password_reset_link_sent", target=user, details={})
    security_notice_send(
        user=user,
        what=_("an administrator (%(admin)s) sent you a link to set a new password") % {"admin": actor.username},
        extra=_("Set your new password here: %(link)s") % {"link": link},
    )


def password_sign_in(*, request, username: str, password: str) -> User:
    """Sign in with a password (API session door); locked-out accounts and addresses are refused (429)."""
    from django.contrib.auth import authenticate, login

    user = authenticate(request, username=username, password=password)
    if user is None:
        if getattr(request, "axes_locked_out", False):
            from .lockout import lockout_message

            raise MFAError(lockout_message(), status=429, code="locked_out")
        raise MFAError(_("The username or password is wrong."), status=400, code="invalid_credentials")
    login(request, user)
    return user


@transaction.atomic
def login_unlock(*, username: str, actor: User, ip_address: str = "") -> int:
    """Lift a sign-in lockout early (the account, and optionally a client address). Audited."""
    from axes.utils import reset

    removed = reset(username=username) if username else 0
    if ip_address:
        removed += reset(ip=ip_address)
    audit.record(
        actor=actor,
        action="accounts.login_unlocked",
        target=("accounts.user", ""),
        details={"username": username, "ip_address": ip_address, "attempts_removed": removed},
    )
    return removed


def locked_out_record(*, username: str, ip_address: str | None) -> None:
    with transaction.atomic():
        audit.record(
            actor=(username or "")[:150] or None,
            action="accounts.locked_out",
            target=("accounts.user", ""),
            outcome="failure",
            details={"username": (username or "")[:150], "ip_address": ip_address or ""},
        )


def static_token_minted_record(*, token) -> None:
    """A backup code made outside the services (`manage.py addstatictoken`, the shell) is audited."""
    device = token.device
    with transaction.atomic():
        audit.record(
            actor=None,
            action="accounts.static_token_minted",
            target=device.user,
            details={"device": device.persistent_id, "source": "command line or shell"},
        )


def staff_sync(*, user: User) -> None:
    """is_staff follows the roles: CA officers, IT admins and auditors use the admin; superusers always."""
    wanted = has_role(user, *STAFF_ROLES)
    if user.is_staff != wanted:
        User.objects.filter(pk=user.pk).update(is_staff=wanted)
        user.is_staff = wanted


@transaction.atomic
def user_roles_set(*, user: User, roles: set[str], managed: set[str] | None = None, source: str) -> None:
    """Make the user's role groups among `managed` exactly `roles` (a directory owns only what it maps)."""
    managed = set(ALL_ROLES if managed is None else managed) & set(ALL_ROLES)
    roles = set(roles) & managed
    current = set(user.groups.filter(name__in=managed).values_list("name", flat=True))
    added, removed = roles - current, current - roles
    if added:
        for role in added:
            group, _created = Group.objects.get_or_create(name=role)
            user.groups.add(group)
    if removed:
        user.groups.remove(*Group.objects.filter(name__in=removed))
    staff_sync(user=user)
    if added or removed:
        audit.record(
            actor=None,
            action="accounts.roles_changed",
            target=user,
            details={"source": source, "added": sorted(added), "removed": sorted(removed)},
        )


def login_method(backend_path: str | None) -> str:
    path = (backend_path or "").lower()
    if "ldap" in path or path.endswith("directorybackend"):
        return "ldap"
    if "oidc" in path:
        return "oidc"
    if "token" in path:
        return "token"
    return "local"


def login_record(*, user: User, method: str) -> None:
    with transaction.atomic():
        audit.record(actor=user, action="accounts.login", target=user, details={"method": method})


def login_failed_record(*, username: str, method: str, reason: str = "") -> None:
    details = {"method": method, "username": (username or "")[:150]}
    if reason:
        details["reason"] = reason[:200]
    with transaction.atomic():
        audit.record(
            actor=(username or "")[:150] or None,
            action="accounts.login_failed",
            target=("accounts.user", ""),
            outcome="failure",
            details=details,
        )


def _audit(user, action: str, purpose: str, detail: str, *, outcome: str | None = None) -> None:
    if outcome is None:
        outcome = "failure" if action.endswith(("failed", "throttled")) else "success"
    with transaction.atomic():
        audit.record(
            actor=user,
            action=action,
            target=user,
            outcome=outcome,
            details={"purpose": purpose, "detail": detail},
        )


# --- personal API tokens and revoking every credential ---------------------------------------------


def _token_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


@transaction.atomic
def api_token_create(
    *, user: User, name: str = "", lifetime_days: int | None = None, actor=None
) -> tuple[ApiToken, str]:
    """A new personal token; the key is returned once and only its SHA-256 is stored."""
    days = settings.API_TOKEN_LIFETIME_DAYS if lifetime_days is None else lifetime_days
    if days < 1:
        raise ValueError("a token lives at least one day")
    raw_key = secrets.token_hex(20)  # 40 hex characters, the form DRF's tokens had
    token = ApiToken.objects.create(
        user=user,
        key_prefix=raw_key[:8],
        key_hash=_token_hash(raw_key),
        name=name[:100],
        expires_at=timezone.now() + timedelta(days=days),
    )
    audit.record(
        actor=actor,
        action="accounts.api_token_created",
        target=user,
        details={"prefix": token.key_prefix, "name": token.name, "expires_at": token.expires_at.isoformat()},
    )
    return token, raw_key


def api_token_authenticate(*, raw_key: str) -> ApiToken | None:
    """The live token with this key (not expired, not revoked, active user), or None."""
    if len(raw_key) < 16:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_prefix=raw_key[:8], key_hash=_token_hash(raw_key), revoked_at__isnull=True)
        .first()
    )
    now = timezone.now()
    if token is None or token.expires_at <= now or not token.user.is_active:
        return None
    # One write a minute at most: the API is polled.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor, reason: str = "revoked") -> None:
    updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason[:200]
    )
    if updated:
        audit.record(
            actor=actor,
            action="accounts.api_token_revoked",
            target=token.user,
            details={"prefix": token.key_prefix, "reason": reason[:200]},
        )


# --- directory and identity-provider accounts ------------------------------------------------------


class IdentityConflict(Exception):
    """An external identity would land on an existing account it is not linked to; refused, audited."""


def _linkable(user: User) -> bool:
    # Accounts made by an earlier directory or SSO sign-in (no password of their own, no link yet) are
    # claimed once, audited, then pinned; a local account (it has a password), a superuser or an account
    # already linked to another identity never is.
    return not user.has_usable_password() and not user.is_superuser and not user.external_identities.exists()


def external_identity_user(*, provider: str, issuer: str, subject: str, username: str) -> tuple[User | None, bool]:
    """The user an external identity signs in as: (user, False) when linked, (None, True) when a new user
    should be created, IdentityConflict when the username belongs to another account."""
    link = ExternalIdentity.objects.select_related("user").filter(provider=provider, issuer=issuer, subject=subject)
    link = link.first()
    if link is not None:
        ExternalIdentity.objects.filter(pk=link.pk).update(last_login_at=timezone.now())
        return link.user, False
    existing = User.objects.filter(username__iexact=username).first()
    if existing is None:
        return None, True
    if not _linkable(existing):
        with transaction.atomic():  # its own transaction: the refused sign-in rolls back the rest
            audit.record(
                actor=username[:150] or None,
                action="accounts.identity_conflict",
                target=existing,
                outcome="denied",
                details={"provider": provider, "issuer": issuer, "subject": subject[:200]},
            )
        raise IdentityConflict(
            f"An account called {username!r} exists already and is not linked to this {provider} identity; "
            "an administrator must link it."
        )
    external_identity_link(user=existing, provider=provider, issuer=issuer, subject=subject)
    return existing, False


@transaction.atomic
def external_identity_link(*, user: User, provider: str, issuer: str, subject: str, actor=None) -> ExternalIdentity:
    link, created = ExternalIdentity.objects.get_or_create(
        provider=provider, issuer=issuer, subject=subject, defaults={"user": user, "last_login_at": timezone.now()}
    )
    if created:
        audit.record(
            actor=actor,
            action="accounts.identity_linked",
            target=user,
            details={"provider": provider, "issuer": issuer, "subject": subject[:200]},
        )
    return link
