from django.core.management.base import BaseCommand, CommandError

from core import hsm
from signing import setup


class Command(BaseCommand):
    help = "Create the SoftHSM token if it is missing and check that it can be used. Idempotent."

    def handle(self, *args, **options):
        try:
            created = setup.token_ensure()
            health = hsm.health()
        except hsm.HSMError as exc:
            raise CommandError(f"HSM not usable: {exc}") from exc
        self.stdout.write(("created token" if created else "token present") + f": {health}")
