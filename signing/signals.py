"""Factor secrets sealed for the signer as soon as django-otp stores them (issue 16).

When a backup code, a confirmed TOTP device or a freshly sent e-mail/SMS code is saved, its secret
is sealed by the signer into an ``ActivationFactor`` row and the django-otp field is overwritten with
random characters nobody knows. django-otp keeps the device (its name, confirmation, throttling);
codes for it are checked by the signer (``factors.verify_for_step_up``, registered with accounts).
A passkey's public key is sealed the same way when it is registered (assertions:
``factors.verify_assertion_for_step_up``).
"""

from __future__ import annotations

import secrets

from django.db.models.signals import post_delete, post_save

SEALED_MARK = "~"


def _sealed_placeholder(length: int) -> str:
    return SEALED_MARK + secrets.token_hex(length)[: length - 1]


def _on_static_token_saved(sender, instance, created, **kwargs):
    from . import factors

    if instance.token.startswith(SEALED_MARK):
        return
    factors.factor_seal(
        user_id=instance.device.user_id,
        device=instance.device.persistent_id,
        kind="static",
        secret=instance.token,
        token_id=instance.pk,
    )
    sender.objects.filter(pk=instance.pk).update(token=_sealed_placeholder(16))


def _on_static_token_deleted(sender, instance, **kwargs):
    from .models import ActivationFactor

    ActivationFactor.objects.filter(kind="static", token_id=instance.pk).delete()


def _on_totp_saved(sender, instance, **kwargs):
    from . import factors
    from .models import ActivationFactor

    if not instance.confirmed:
        return
    if ActivationFactor.objects.filter(device=instance.persistent_id, kind="totp").exists():
        return
    factors.factor_seal(user_id=instance.user_id, device=instance.persistent_id, kind="totp", secret=instance.key)
    # Random hex, so django-otp's own code never breaks on it, and known to no one.
    sender.objects.filter(pk=instance.pk).update(key=secrets.token_hex(20))


def _on_side_channel_saved(sender, instance, **kwargs):
    from . import factors

    token = instance.token or ""
    if not token or token.startswith(SEALED_MARK):
        return
    until = instance.valid_until.timestamp() if instance.valid_until else None
    factors.factor_seal(
        user_id=instance.user_id, device=instance.persistent_id, kind="once", secret=token, valid_until=until
    )
    sender.objects.filter(pk=instance.pk).update(token=_sealed_placeholder(16))


def _on_passkey_saved(sender, instance, **kwargs):
    """A registered passkey's public key is sealed for the signer: the copy in accounts' row is not the
    one that activates signatures, so replacing it in the database gains nothing."""
    import json

    from . import factors
    from .models import ActivationFactor

    if not instance.confirmed:
        return
    if ActivationFactor.objects.filter(device=instance.persistent_id, kind="webauthn").exists():
        return
    secret = json.dumps({"cid": instance.credential_id, "pk": instance.public_key})
    factors.factor_seal(user_id=instance.user_id, device=instance.persistent_id, kind="webauthn", secret=secret)


def _on_device_deleted(sender, instance, **kwargs):
    from .models import ActivationFactor

    ActivationFactor.objects.filter(user_id=instance.user_id, device=instance.persistent_id).delete()


def connect() -> None:
    from django_otp.plugins.otp_email.models import EmailDevice
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts import services as accounts_services
    from accounts.models import SMSDevice, WebAuthnDevice

    from . import factors

    post_save.connect(_on_static_token_saved, sender=StaticToken, dispatch_uid="signing.seal_static")
    post_delete.connect(_on_static_token_deleted, sender=StaticToken, dispatch_uid="signing.unseal_static")
    post_save.connect(_on_totp_saved, sender=TOTPDevice, dispatch_uid="signing.seal_totp")
    for model in (EmailDevice, SMSDevice):
        post_save.connect(_on_side_channel_saved, sender=model, dispatch_uid=f"signing.seal_{model.__name__}")
    post_save.connect(_on_passkey_saved, sender=WebAuthnDevice, dispatch_uid="signing.seal_passkey")
    for model in (StaticDevice, TOTPDevice, EmailDevice, SMSDevice, WebAuthnDevice):
        post_delete.connect(_on_device_deleted, sender=model, dispatch_uid=f"signing.unseal_{model.__name__}")
    accounts_services.code_verifier_register(factors.verify_for_step_up)
    accounts_services.assertion_verifier_register(factors.verify_assertion_for_step_up)
