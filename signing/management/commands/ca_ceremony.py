"""`manage.py ca_ceremony`: the root CA in its own token, kept offline (issue 16).

First ceremony: creates the root key in the root token (HSM_ROOT_TOKEN_LABEL, default `dsign-root`,
PIN HSM_ROOT_PIN), the issuing CA key in the CA token, the issuing CA's certificate signed by the root,
the OCSP and TSA identities in the services token, and a root CRL valid for 400 days. Later ceremonies
(`--root-crl`) re-sign the root CRL (and revoke nothing else). Between ceremonies the running system
is configured without HSM_ROOT_PIN (and, on SoftHSM, without the root token's directory): it needs only
the CA, services and users' tokens.
"""

from __future__ import annotations

import dataclasses

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core import hsm
from signing import setup


class Command(BaseCommand):
    help = "Create the root CA in its own (offline) token and issue the issuing CA; or re-sign the root CRL."

    def add_arguments(self, parser):
        parser.add_argument("--root-token", default=settings.HSM_ROOT_TOKEN_LABEL or "dsign-root")
        parser.add_argument("--root-crl", action="store_true", help="only re-sign the root CRL")

    def handle(self, *args, **options):
        from certificates import services
        from certificates.models import CertificateAuthority
        from certificates.responders import crl_publish

        pin = settings.HSM_ROOT_PIN
        if not pin:
            raise CommandError("the ceremony needs the root token's PIN (HSM_ROOT_PIN or HSM_ROOT_PIN_FILE)")
        default, realms = setup.hsm_realm_configs()
        root = dataclasses.replace(realms.get("ca", default), token_label=options["root_token"], user_pin=pin)
        try:
            if hsm.token_ensure(root):
                self.stdout.write(f"created token {root.token_label}")
            hsm.configure_realms(default=default, realms={**realms, "root": root})
            if options["root_crl"]:
                authority = CertificateAuthority.objects.get(kind=CertificateAuthority.Kind.ROOT)
                crl_publish(authority=authority)
                self.stdout.write("root CRL re-signed")
                return
            if not services.ca_bootstrap():
                raise CommandError("an internal CA already exists; the ceremony is for a new installation")
        except hsm.HSMError as exc:
            raise CommandError(f"HSM not usable: {exc}") from exc
        self.stdout.write(
            f"root CA created in {root.token_label}; issuing CA, OCSP and TSA in the running tokens.\n"
            f"Now take {root.token_label} offline (SoftHSM: move its directory under var/softhsm/tokens/ to "
            "offline media) and run the system with HSM_ROOT_TOKEN_LABEL set and no HSM_ROOT_PIN."
        )
