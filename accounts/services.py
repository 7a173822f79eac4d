"""Identity services: MFA step-up before signing."""

from __future__ import annotations

from django.db import transaction
from django_otp import devices_for_user

import audit


class StepUpFailed(Exception):
    """The one-time code was refused. `throttled` means the factor is locked for a while."""

    def __init__(self, message: str, *, throttled: bool = False):
        super().__init__(message)
        self.message = message
        self.throttled = throttled


def mfa_step_up(*, user, code: str, purpose: str = "sign") -> None:
    """Check a one-time code against the user's confirmed devices; raise StepUpFailed when refused.

    Devices with throttling (TOTP, e-mail, static) lock themselves after failures; a locked device does
    not accept even a correct code until its delay has passed.
    """
    code = (code or "").strip()
    devices = list(devices_for_user(user, confirmed=True))
    if not devices:
        _audit(user, "accounts.mfa_failed", purpose, "no MFA device")
        raise StepUpFailed("You have no MFA device set up; enrol one before signing.")
    if not code:
        raise StepUpFailed("A one-time code (OTP) is required to sign.")
    locked = False
    for device in devices:
        verify_allowed = getattr(device, "verify_is_allowed", None)
        if verify_allowed is not None:
            allowed, _ = verify_allowed()
            if not allowed:
                locked = True
                continue
        if device.verify_token(code):
            _audit(user, "accounts.mfa_verified", purpose, device.persistent_id)
            return
    _audit(user, "accounts.mfa_failed", purpose, "locked" if locked else "wrong code")
    if locked and not any(_allowed(d) for d in devices):
        raise StepUpFailed(
            "Too many wrong codes: MFA is locked for a while. Wait a minute and try again.", throttled=True
        )
    raise StepUpFailed("The one-time code (OTP) is wrong or expired.")


def _allowed(device) -> bool:
    check = getattr(device, "verify_is_allowed", None)
    return True if check is None else check()[0]


def _audit(user, action: str, purpose: str, detail: str) -> None:
    with transaction.atomic():
        audit.record(
            actor=user,
            action=action,
            target=user,
            outcome="success" if action.endswith("verified") else "failure",
            details={"purpose": purpose, "detail": detail},
        )
