"""Reads of identity data: a user's profile, roles and MFA devices."""

from __future__ import annotations

from django_otp import devices_for_user

from .models import Role, SMSDevice, User


def user_roles(user: User) -> list[str]:
    return sorted(user.groups.filter(name__in=Role.values).values_list("name", flat=True))


def device_kind(device) -> str:
    from django_otp.plugins.otp_email.models import EmailDevice
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    for cls, kind in ((TOTPDevice, "totp"), (EmailDevice, "email"), (SMSDevice, "sms"), (StaticDevice, "backup")):
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
        return f"{device.token_set.count()} codes left"
    return ""


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
                "locked_until": None if locked[0] else (locked[1] or {}).get("locked_until"),
            }
        )
    return rows


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
