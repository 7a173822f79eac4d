"""`manage.py drf_create_token USER`: a new hashed, expiring personal API token, printed once.

Replaces rest_framework.authtoken's command of the same name (same arguments, same output line). Keys
are no longer stored, so every call issues a new token; `--reset` revokes the user's other tokens first.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.models import ApiToken
from accounts.services import api_token_create, api_token_revoke


class Command(BaseCommand):
    help = "Create a personal API token for a user (printed once; only its hash is kept)"

    def add_arguments(self, parser):
        parser.add_argument("username", type=str)
        parser.add_argument(
            "-r", "--reset", action="store_true", dest="reset_token", help="revoke the user's other tokens first"
        )
        parser.add_argument("--days", type=int, default=None, help="lifetime in days (API_TOKEN_LIFETIME_DAYS)")
        parser.add_argument("--name", default="command line", help="what the token is for")

    def handle(self, *args, username, reset_token=False, days=None, name="command line", **options):
        User = get_user_model()
        try:
            user = User._default_manager.get_by_natural_key(username)
        except User.DoesNotExist:
            raise CommandError(f"Cannot create the Token: user {username} does not exist") from None
        if reset_token:
            for token in ApiToken.objects.filter(user=user, revoked_at__isnull=True):
                api_token_revoke(token=token, actor=None, reason="replaced with drf_create_token --reset")
        try:
            _, key = api_token_create(user=user, name=name, lifetime_days=days)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Generated token {key} for user {username}")
