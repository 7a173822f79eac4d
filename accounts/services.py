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


def mfa_step_up(*, user: User, code: str, purpose: str = "sign", request=None, min_aal: int = 1) -> Device:
    """Check a one-time code against the user's confirmed devices; raise StepUpFailed when refused.

    Devices lock themselves after a wrong code for 1, 2, 4, 8… seconds (django-otp throttling); a locked
    device does not accept even a correct code until its delay has passed. A success is recorded as the
    user's latest step-up (`StepUp`, shown in the admin); it opens no window: every approval needs
    its own code (workflows.services.decision_approve).
    """
    code = (code or "").strip().replace(" ", "")
    devices = list(devices_for_user(user, confirmed=True))
    if not devices:
        _audit(user, "accounts.mfa_failed", purpose, "no MFA device")
        raise StepUpFailed("You have no MFA device set up; enrol one before signing.")
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
        raise StepUpFailed("A one-time code (OTP) is required to sign.")
    locks = []
    for device in devices:
        locked_until = _locked_until(device)
        if locked_until is not None:
            locks.append(locked_until)
            continue
        if device.verify_token(code):
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
    if not device.verify_token((code or "").strip()):
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
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
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


def _user_session_keys(user: User) -> list[str]:
    from django.contrib.sessions.models import Session

    if (
        not settings.SESSION_ENGINE.startswith("django.contrib.sessions.backends.")
        or "db" not in settings.SESSION_ENGINE
    ):
        return []  # other engines: the session auth hash still logs out sessions after a password change
    keys = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            keys.append(session.session_key)
    return keys


@transaction.atomic
def credentials_revoke_all(*, user: User, reason: str, keep_session_key: str | None = None) -> dict:
    """Revoke every personal API token and end every session of `user` but `keep_session_key` (the
    browser that changed the password stays signed in). Returns the counts."""
    from importlib import import_module

    now = timezone.now()
    tokens = ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=now, revoked_reason=reason[:200]
    )
    keys = [key for key in _user_session_keys(user) if key != keep_session_key]
    store = import_module(settings.SESSION_ENGINE).SessionStore
    for key in keys:
        store(session_key=key).delete()  # through the engine, so a cached_db cache forgets it too
    from audit.context import request_user

    audit.record(
        actor=request_user() or user,
        action="accounts.credentials_revoked",
        target=user,
        details={"reason": reason[:200], "tokens": tokens, "sessions": len(keys)},
    )
    return {"tokens": tokens, "sessions": len(keys)}


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
