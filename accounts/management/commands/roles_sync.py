from django.core.management.base import BaseCommand

from accounts.roles import roles_sync


class Command(BaseCommand):
    help = "Create the role groups and give them their admin permissions (run after every migrate)."

    def handle(self, *args, **options):
        roles_sync()
        self.stdout.write("roles synchronised")
