"""`manage.py hsm_split`: move a single-token installation to the split layout (issue 16).

Keys generated in a token are never extractable (CKA_EXTRACTABLE false), so no PKCS#11 operation can
move them, wrapped or not, and none leaves as plaintext. The old token therefore stays where the keys
that must keep working are, and everything else gets new keys where it belongs:

1. The old token becomes the CA token (root and issuing CA keep their keys: every certificate, CRL and
   existing signature chains to them as before). Set HSM_CA_TOKEN_LABEL / HSM_CA_PIN to it afterwards.
2. The OCSP responder and the TSA get new keys in the services' token and new certificates from the
   issuing CA; their old keys are destroyed in the CA token.
3. Every user's active (or pending) certificate is renewed: a new key in the users' token, a new
   certificate waiting for the holder's acceptance of the subscriber agreement (e-mailed). The old key
   is destroyed and its certificate marked superseded, not revoked, so signatures made with it stay
   valid (pyHanko, pdfsig and dsign's verifier check them against the unchanged chain).
4. Factor secrets still in django-otp's tables in plaintext are sealed for the signer.

Idempotent: a second run finds nothing left to do. Run it with the old token's PIN (HSM_PIN) and the
users' PIN (HSM_USERS_PIN, or the file hsm_init writes for SoftHSM), web and workers stopped.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core import hsm, signer
from signing import activation, setup


class Command(BaseCommand):
    help = "Move a single-token installation to the split layout (CA, services and users' tokens apart)."

    def add_arguments(self, parser):
        parser.add_argument("--from-label", default=settings.HSM_TOKEN_LABEL, help="the single token's label")

    def handle(self, *args, **options):
        from certificates.models import Certificate, CertificateStatus
        from certificates.services import certificate_renew, certificate_transition, service_identities_rekey

        legacy = setup._config(options["from_label"], settings.HSM_PIN)
        if not hsm.token_visible(legacy):
            raise CommandError(f"no token labelled {legacy.token_label!r}")
        services = setup._config(settings.HSM_SERVICES_TOKEN_LABEL, settings.HSM_SERVICES_PIN)
        users_pin = settings.HSM_USERS_PIN or setup.users_pin_default() or setup.users_pin_for_creation()
        users = setup._config(settings.HSM_USERS_TOKEN_LABEL, users_pin)
        for config in (services, users):
            if hsm.token_ensure(config):
                self.stdout.write(f"created token {config.token_label}")
        hsm.configure_realms(default=legacy, realms={"ca": legacy, "services": services, "users": users})
        # This command is its own signer (it holds the users' PIN), for the renewed users' keys.
        signer.use_local(activation.handle)
        try:
            legacy_labels = set(hsm.labels(config=legacy))
        except hsm.HSMError as exc:
            raise CommandError(f"the old token cannot be used: {exc}") from exc

        for label in service_identities_rekey():
            self.stdout.write(f"{label}: new key in {services.token_label}, new certificate")
        for label in ("ca-ocsp", "ca-tsa"):
            if label in legacy_labels:
                hsm.key_delete(label=label, config=legacy)
                self.stdout.write(f"{label}: old key destroyed in {legacy.token_label}")

        moved = 0
        live = [CertificateStatus.ACTIVE, CertificateStatus.PENDING_ACCEPTANCE]
        signing_certs = Certificate.objects.filter(
            key_label__in=legacy_labels, status__in=live, purpose=Certificate.Purpose.SIGNING
        )
        for cert in signing_certs.select_related("user"):
            renewed = certificate_renew(certificate=cert, actor=None)
            if cert.status == CertificateStatus.ACTIVE:
                certificate_transition(cert, "supersede", superseded_by=renewed)
            else:
                certificate_transition(cert, "expire")
            moved += 1
        for label in sorted(legacy_labels):
            if label.startswith("user-"):
                hsm.key_delete(label=label, config=legacy)
        self.stdout.write(f"users' keys: {moved} certificates renewed in {users.token_label}; old keys destroyed")

        resealed = _factors_reseal(legacy=legacy, legacy_labels=legacy_labels)
        sealed = _factors_seal()
        self.stdout.write(f"factor secrets sealed for the signer: {resealed} moved, {sealed} newly sealed")
        for label in (activation.SAD_KEY, activation.FACTOR_KEY):
            if label in legacy_labels:
                # Activation data issued by the old token's key are void from now on (they expire anyway).
                hsm.secret_key_delete(label=label, config=legacy)
        left = [x for x in hsm.labels(config=legacy) if not x.startswith("ca-") or x in ("ca-ocsp", "ca-tsa")]
        if left:
            raise CommandError(f"keys left in {legacy.token_label} that do not belong there: {left}")
        self.stdout.write(
            "done. Configure: HSM_LAYOUT=split "
            f"HSM_CA_TOKEN_LABEL={legacy.token_label} HSM_CA_PIN_FILE=<the old HSM_PIN> "
            f"HSM_SERVICES_TOKEN_LABEL={services.token_label} HSM_USERS_TOKEN_LABEL={users.token_label} "
            "and give HSM_USERS_PIN_FILE to the signer process only."
        )


def _factors_reseal(*, legacy, legacy_labels: set[str]) -> int:
    from signing.models import ActivationFactor

    if activation.FACTOR_KEY not in legacy_labels:
        return 0
    count = 0
    for factor in ActivationFactor.objects.all():
        try:
            sealed = activation.reseal(
                user_id=factor.user_id, kind=factor.kind, sealed=factor.sealed, from_config=legacy
            )
        except hsm.HSMError:
            # Already sealed under the users' token's key (a second run).
            continue
        ActivationFactor.objects.filter(pk=factor.pk).update(sealed=sealed)
        count += 1
    return count


def _factors_seal() -> int:
    """Seal what django-otp still holds in plaintext (devices confirmed before issue 16)."""
    from django_otp.plugins.otp_static.models import StaticToken
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from signing import signals
    from signing.models import ActivationFactor

    count = 0
    for token in StaticToken.objects.select_related("device").exclude(token__startswith=signals.SEALED_MARK):
        signals._on_static_token_saved(StaticToken, token, created=False)
        count += 1
    sealed_devices = set(ActivationFactor.objects.filter(kind="totp").values_list("device", flat=True))
    for device in TOTPDevice.objects.filter(confirmed=True):
        if device.persistent_id not in sealed_devices:
            signals._on_totp_saved(TOTPDevice, device)
            count += 1
    return count
