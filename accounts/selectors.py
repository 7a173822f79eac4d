"""Reads of identity data: a user's profile, roles and MFA devices."""

from __future__ import annotations

from django.utils.translation import gettext
from django_otp import devices_for_user

from .models import Role, SMSDevice, User, WebAuthnDevice


def user_roles(user: User) -> list[str]:
    return sorted(user.groups.filter(name__in=Role.values).values_list("name", flat=True))


def device_kind(device) -> str:
    from django_otp.plugins.otp_email.models import EmailDevice
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    kinds = (
        (TOTPDevice, "totp"),
        (EmailDevice, "email"),
        (SMSDevice, "sms"),
        (StaticDevice, "backup"),
        (WebAuthnDevice, "webauthn"),
    )
    for cls, kind in kinds:
        if isinstance(device, cls):
            return kind
    return "other"


def _masked(device) -> str:
    kind = device_kind(device)
    if kind == "email":
        address = device.email or device.user.email or ""
        name, _, domain = address.partition("@")
        return f"{name[:2]}***@{domain}" if domain else ""
    if kind == "sms":
        return f"***{device.phone[-4:]}"
    if kind == "backup":
        return gettext("%(count)d codes left") % {"count": device.token_set.count()}
    return ""


def has_passkey(user: User) -> bool:
    """The user has a confirmed passkey (the pages then offer it next to the code)."""
    return WebAuthnDevice.objects.filter(user=user, confirmed=True).exists()


def mfa_devices(user: User) -> list[dict]:
    """The user's devices, confirmed or not, as the API and the MFA page show them."""
    rows = []
    for device in devices_for_user(user, confirmed=None):
        locked = getattr(device, "verify_is_allowed", lambda: (True, None))()
        rows.append(
            {
                "id": device.persistent_id,
                "kind": device_kind(device),
                "name": device.name,
                "confirmed": device.confirmed,
                "address": _masked(device),
                "sends_codes": device_kind(device) in {"email", "sms"},
                "aal": device_aal(device),
                "locked_until": None if locked[0] else (locked[1] or {}).get("locked_until"),
            }
        )
    return rows


def api_tokens_of(user: User):
    """The user's personal API tokens that still work, newest first (keys are never readable)."""
    from django.utils import timezone

    from .models import ApiToken

    return ApiToken.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=timezone.now())


def has_confirmed_device(user: User) -> bool:
    return any(True for _device in devices_for_user(user, confirmed=True))


def org_unit_ids_with_descendants(code: str) -> list[int]:
    """Primary keys of the org unit with this code and of every unit below it."""
    from .models import OrgUnit

    units = list(OrgUnit.objects.values_list("pk", "code", "parent_id"))
    wanted = {pk for pk, unit_code, _ in units if unit_code == code}
    grew = True
    while grew:
        more = {pk for pk, _, parent in units if parent in wanted and pk not in wanted}
        wanted |= more
        grew = bool(more)
    return sorted(wanted)


# What each kind of factor proves (accounts.models.AAL); passkeys are AAL3.
_AAL_BY_KIND = {"totp": 2, "email": 1, "sms": 1, "backup": 1, "webauthn": 3}


def device_aal(device) -> int:
    return _AAL_BY_KIND.get(device_kind(device), 1)
