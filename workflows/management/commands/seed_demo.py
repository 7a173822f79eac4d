"""Demo data of DESIGN.md: the fixtures/ organisation, then certificates made in the token. Never in production.

`fixtures/demo_organisation.json` (org units; users with their roles and the demo password), and
`fixtures/demo_workflows.json` (the memo-2-tier template) are loaded with `loaddata`; rows are matched by
natural key (unit code, username, template code, tier order), so running it again updates them in place.
`fixtures/demo_branding.json` is loaded only while no branding is set, so an edited one is kept. Keys and
certificates cannot be fixtures: each user without a usable certificate gets one issued, its key generated
in the token.
"""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import User
from accounts.roles import roles_sync
from branding.models import Branding
from certificates import services as certificate_services
from certificates.selectors import certificate_for_signing

FIXTURES_DIR = settings.BASE_DIR / "fixtures"
PASSWORD = "demo-pass-2026"  # the password of every demo user (hashed in demo_organisation.json)
ORGANISATION = ["demo_organisation.json", "demo_workflows.json"]
BRANDING = "demo_branding.json"


class Command(BaseCommand):
    help = "Load the demo users, certificates and workflow template (idempotent; refused in production)."

    def handle(self, *args, **options):
        if settings.PRODUCTION:
            raise CommandError("seed_demo is refused in production (DSIGN_PRODUCTION is set).")
        roles_sync()
        with transaction.atomic():
            call_command("loaddata", *(FIXTURES_DIR / name for name in ORGANISATION), verbosity=0)
            if not Branding.objects.exists():
                call_command("loaddata", FIXTURES_DIR / BRANDING, verbosity=0)
        usernames = [row["fields"]["username"] for row in _fixture_rows("accounts.user")]
        users = list(User.objects.filter(username__in=usernames).order_by("id"))
        for user in users:
            if certificate_for_signing(user=user) is None:
                certificate_services.certificate_issue(user=user, actor=None, accept_now=True)
        self.stdout.write("demo data ready: users " + ", ".join(u.username for u in users) + f" / password {PASSWORD}")


def _fixture_rows(model: str) -> list[dict]:
    import json

    rows = []
    for name in ORGANISATION:
        rows += [row for row in json.loads((FIXTURES_DIR / name).read_text()) if row["model"] == model]
    return rows
