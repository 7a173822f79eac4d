import sys

from django.core.management.base import BaseCommand

from audit.services import chain_verify


class Command(BaseCommand):
    help = "Walk the audit chain: exit 0 when intact, 1 naming the first broken event."

    def handle(self, *args, **options):
        problem = chain_verify()
        if problem is None:
            self.stdout.write("audit chain intact")
            return
        sys.stderr.write(f"audit chain broken at event #{problem.event_id}: {problem.reason}\n")
        sys.exit(1)
