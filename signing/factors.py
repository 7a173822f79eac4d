"""Users' factor secrets sealed for the signer, and the signature activation that uses them.

The web tier never holds a usable secret: it stores the sealed blobs the signer returned, passes
them back with the code the user typed, and gets either a verdict (a step-up that is not a
signature) or signature activation data bound to the documents the user confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from core import signer as signer_client

from .models import ActivationFactor


def factor_seal(
    *, user_id: int, device: str, kind: str, secret: str, valid_until: float | None = None, token_id=None
) -> ActivationFactor:
    sealed = signer_client.call("seal", user_id=user_id, kind=kind, secret=secret, valid_until=valid_until)["sealed"]
    with transaction.atomic():
        if kind in ("totp", "once"):
            # One live seed per TOTP device, one pending code per e-mail/SMS device.
            ActivationFactor.objects.filter(user_id=user_id, device=device, kind=kind).delete()
        return ActivationFactor.objects.create(
            user_id=user_id, device=device, kind=kind, sealed=sealed, token_id=token_id
        )


def _factors(user_id: int, devices: list[str] | None = None) -> list[ActivationFactor]:
    rows = ActivationFactor.objects.filter(user_id=user_id).order_by("pk")
    if devices is not None:
        rows = rows.filter(device__in=devices)
    return list(rows)


def _spend(factor: ActivationFactor) -> None:
    """A backup code or a sent code works once (django-otp deletes a used static token too)."""
    if factor.kind == ActivationFactor.Kind.STATIC and factor.token_id:
        from django_otp.plugins.otp_static.models import StaticToken

        # Its factor row goes with it (signing.signals); deleted here when the token was gone already.
        if StaticToken.objects.filter(pk=factor.token_id).delete()[0]:
            return
    if factor.kind != ActivationFactor.Kind.TOTP:
        ActivationFactor.objects.filter(pk=factor.pk).delete()


@dataclass(frozen=True)
class Verdict:
    device: str | None
    handled: set[str]


def verify_for_step_up(*, user, code: str, devices: list, context: dict) -> Verdict:
    """accounts' code verifier: the signer checks the code against the user's sealed factors.

    With ``context["activation_items"]`` the signer also issues signature activation data for those
    documents, left in ``context["activation"]``. Throttling stays django-otp's, per device.
    """
    by_id = {d.persistent_id: d for d in devices}
    factors = [f for f in _factors(user.pk, list(by_id)) if f.kind != ActivationFactor.Kind.WEBAUTHN]
    handled = {f.device for f in factors}
    if not factors:
        return Verdict(device=None, handled=set())
    items = context.get("activation_items")
    try:
        if items is not None:
            answer = signer_client.call(
                "activate",
                user_id=user.pk,
                code=code,
                items=items,
                factors=_payload(factors),
                purpose=context.get("activation_purpose", "sign"),
            )
            context["activation"] = answer["sad"]
        else:
            answer = signer_client.call("verify", user_id=user.pk, code=code, factors=_payload(factors))
    except signer_client.SignerUnavailable:
        raise
    except signer_client.SignerError as exc:
        context["refusal"] = exc.code
        for device_id in handled:
            increment = getattr(by_id[device_id], "throttle_increment", None)
            if increment is not None:
                increment()
        return Verdict(device=None, handled=handled)
    factor = factors[answer["factor"]]
    _device_used(by_id[factor.device], factor)
    _spend(factor)
    return Verdict(device=factor.device, handled=handled)


def verify_assertion_for_step_up(*, user, assertion, device, binding: str, context: dict) -> bool:
    """accounts' assertion verifier: the signer checks the passkey assertion against its sealed copy of
    the credential (and its own sign counter). With ``context["activation_items"]`` it also issues
    signature activation data for exactly those documents (the challenge must carry them), left in
    ``context["activation"]``. False when the passkey was never sealed (it cannot activate signatures)."""
    from accounts.services import PasskeyRefused

    factors = [f for f in _factors(user.pk, [device.persistent_id]) if f.kind == ActivationFactor.Kind.WEBAUTHN]
    if not factors:
        return False
    items = context.get("activation_items")
    try:
        if items is not None:
            answer = signer_client.call(
                "activate", user_id=user.pk, items=items, factors=_payload(factors), assertion=assertion
            )
            context["activation"] = answer["sad"]
        else:
            answer = signer_client.call(
                "verify",
                user_id=user.pk,
                factors=_payload(factors),
                assertion=assertion,
                purpose=binding.removeprefix("purpose:"),
            )
    except signer_client.SignerUnavailable:
        raise
    except signer_client.SignerError as exc:
        context["refusal"] = exc.code
        from accounts.services import mfa_failed_record

        mfa_failed_record(user=user, purpose="sign" if items is not None else "mfa", detail=f"signer: {exc.code}")
        raise PasskeyRefused(_refusal_message(exc.code), code=exc.code) from exc
    return True


def _refusal_message(code: str) -> str:
    from django.utils.translation import gettext as _

    if code in ("passkey_other_purpose", "activation_other_document"):
        return _("This passkey response was made for another document, version or purpose; it cannot approve this one.")
    if code == "passkey_replayed":
        return _("This passkey response was already used; approve again to make a new one.")
    if code == "passkey_counter":
        return _(
            "This passkey's signature counter went backwards, as when a copied key is used; it is refused. "
            "Tell your IT administrator."
        )
    if code == "throttled":
        return _("Too many failed attempts: signing is locked for a while; try again later.")
    return _("The signer did not accept this passkey; remove it and add it again on the MFA page.")


def _device_used(device, factor: ActivationFactor) -> None:
    """django-otp's own bookkeeping after a good code, for a device whose code the signer checked."""
    from django.utils import timezone

    for name in ("throttle_reset", "cooldown_reset", "set_last_used_timestamp"):
        method = getattr(device, name, None)
        if method is not None:
            method(commit=False)
    if factor.kind == ActivationFactor.Kind.ONCE:
        device.token = None
        device.valid_until = timezone.now()
    device.save()


def _payload(factors: list[ActivationFactor]) -> list[dict]:
    return [{"kind": f.kind, "sealed": f.sealed} for f in factors]
