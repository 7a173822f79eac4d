from django.core.management.base import BaseCommand, CommandError

from certificates import services
from core import hsm


class Command(BaseCommand):
    help = "Create the internal root CA, issuing CA, OCSP responder and TSA in the token. Idempotent."

    def handle(self, *args, **options):
        try:
            created = services.ca_bootstrap()
        except hsm.HSMError as exc:
            raise CommandError(f"HSM not usable: {exc}") from exc
        services.tsa_certificate_publish()
        self.stdout.write("internal CA created" if created else "internal CA present")
