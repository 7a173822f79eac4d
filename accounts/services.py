"""Identity services: MFA enrolment and step-up before signing, directory roles, login history."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from django_otp import devices_for_user
from django_otp.models import Device
from django_otp.plugins.otp_email.models import EmailDevice
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

import audit
from core.errors import DomainError
from core.roles import ALL_ROLES, STAFF_ROLES, has_role

from .models import ChallengeRefused, SMSDevice, StepUp, User


class StepUpFailed(DomainError):
    """The one-time code was refused (403). `throttled` means the factor is locked for a while (429)."""

    status = 403
    code = "step_up_failed"

    def __init__(self, message: str, *, throttled: bool = False):
        super().__init__(message, code="step_up_throttled" if throttled else None, status=429 if throttled else None)
        self.throttled = throttled


class MFAError(DomainError):
    """An enrolment or challenge request that cannot be done; the message is for the user."""

    code = "mfa_refused"

    def __init__(self, message: str, *, status: int = 400):
        super().__init__(message, status=status)


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


def mfa_step_up(
    *, user: User, code: str, purpose: str = "sign", request=None, verifier_context: dict | None = None
) -> Device:
    """Check a one-time code against the user's confirmed devices; raise StepUpFailed when refused.

    Devices lock themselves after a wrong code for 1, 2, 4, 8… seconds (django-otp throttling); a locked
    device does not accept even a correct code until its delay has passed. A success is recorded as the
    user's latest step-up (`StepUp`, shown in the admin); it opens no window: every approval needs
    its own code (workflows.services.decision_approve). Devices whose secrets are sealed for the
    signer are checked by the registered code verifier (signing); `verifier_context` is handed to it
    (a signature activation asks it for activation data there).
    """
    code = (code or "").strip().replace(" ", "")
    devices = list(devices_for_user(user, confirmed=True))
    if not devices:
        _audit(user, "accounts.mfa_failed", purpose, "no MFA device")
        raise StepUpFailed("You have no MFA device set up; enrol one before signing.")
    if not code:
        raise StepUpFailed("A one-time code (OTP) is required to sign.")
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
            device = next(d for d in usable if d.persistent_id == verdict.device)
            _step_up_record(user=user, device=device, purpose=purpose, request=request)
            return device
    for device in usable:
        if device.persistent_id not in handled and device.verify_token(code):
            _step_up_record(user=user, device=device, purpose=purpose, request=request)
            return device
    if locks and len(locks) == len(devices):
        until = min(locks)
        _audit(user, "accounts.mfa_throttled", purpose, f"locked until {until.isoformat()}")
        raise StepUpFailed(
            f"Too many wrong codes: MFA is locked until {_hhmm(until)}. "
            f"รหัสผิดหลายครั้ง ระบบล็อกการยืนยันตัวตนถึงเวลา {_hhmm(until)} น.",
            throttled=True,
        )
    _audit(user, "accounts.mfa_failed", purpose, "wrong code")
    raise StepUpFailed("The one-time code (OTP) is wrong or expired. รหัส OTP ไม่ถูกต้องหรือหมดอายุ")


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
        raise MFAError("No such MFA device.", status=404)
    return device


def mfa_challenge(*, user: User, device_id: str) -> str:
    """Send a code to the user's e-mail or SMS device (for signing or to confirm enrolment)."""
    device = user_device(user=user, device_id=device_id, confirmed=None)
    if not isinstance(device, EmailDevice | SMSDevice):
        raise MFAError("This device shows its own codes; nothing is sent.")
    if isinstance(device, EmailDevice):
        if not (device.email or user.email):
            raise MFAError("No e-mail address is set for this device.")
        allowed, data = device.generate_is_allowed()
        if not allowed:
            raise MFAError(
                f"A code was sent a moment ago; ask again after {_hhmm(data['next_generation_at'])}.", status=429
            )
    from .sms import SMSError

    try:
        message = device.generate_challenge()
    except ChallengeRefused as exc:
        raise MFAError(str(exc), status=429)
    except SMSError as exc:
        _audit(user, "accounts.mfa_challenge", "challenge", f"{device.persistent_id}: {exc}", outcome="failure")
        raise MFAError("The SMS could not be sent; try again or use another method.", status=503)
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


@transaction.atomic
def totp_enrol_start(*, user: User, name: str = "Authenticator") -> TotpEnrolment:
    """A new unconfirmed TOTP device and its otpauth:// URI (issuer = OTP_TOTP_ISSUER) as an SVG QR code."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    device = TOTPDevice.objects.create(user=user, name=name[:64] or "Authenticator", confirmed=False)
    uri = device.config_url
    return TotpEnrolment(device=device, uri=uri, qr_svg=qr_svg(uri))


@transaction.atomic
def email_device_add(*, user: User, email: str = "") -> EmailDevice:
    if not (email or user.email):
        raise MFAError("Give an e-mail address for the codes.")
    return EmailDevice.objects.create(user=user, name="E-mail", email=email or None, confirmed=False)


@transaction.atomic
def sms_device_add(*, user: User, phone: str) -> SMSDevice:
    phone = "".join(ch for ch in (phone or "") if ch.isdigit() or ch == "+")
    if len(phone) < 9:
        raise MFAError("Give a mobile number for the codes.")
    return SMSDevice.objects.create(user=user, name="SMS", phone=phone, confirmed=False)


def device_confirm(*, user: User, device_id: str, code: str) -> Device:
    """Confirm an enrolment with the first code the new device produced or received."""
    device = user_device(user=user, device_id=device_id, confirmed=False)
    allowed_until = _locked_until(device)
    if allowed_until is not None:
        raise MFAError(f"Too many wrong codes: try again after {_hhmm(allowed_until)}.", status=429)
    if not _code_matches(user=user, device=device, code=(code or "").strip()):
        _audit(user, "accounts.mfa_enrol_failed", "enrol", device.persistent_id, outcome="failure")
        raise MFAError("The code is wrong or expired.", status=403)
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        _audit(user, "accounts.mfa_enrolled", "enrol", device.persistent_id)
    return device


@transaction.atomic
def static_codes_generate(*, user: User, count: int = 10) -> list[str]:
    """Replace the user's backup codes with `count` new ones; each works once."""
    device, _ = StaticDevice.objects.get_or_create(user=user, name="Backup codes", defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(count)]
    for code in codes:
        # One by one: saving a token is what seals it for the signer (signing.signals).
        StaticToken.objects.create(device=device, token=code)
    if not device.confirmed:
        device.confirmed = True
        device.save(update_fields=["confirmed"])
    _audit(user, "accounts.backup_codes_generated", "enrol", device.persistent_id)
    return codes


@transaction.atomic
def device_delete(*, user: User, device_id: str) -> None:
    device = user_device(user=user, device_id=device_id, confirmed=None)
    persistent_id = device.persistent_id
    device.delete()
    _audit(user, "accounts.mfa_removed", "enrol", persistent_id)


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
            group, _ = Group.objects.get_or_create(name=role)
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
