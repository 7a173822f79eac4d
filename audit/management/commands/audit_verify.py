import sys

from django.core.management.base import BaseCommand

from audit.anchors import anchors_load
from audit.services import chain_verify


class Command(BaseCommand):
    help = (
        "Walk the audit chain and check its RFC 3161 anchors (signature by the configured TSA, time, imprint): "
        "exit 0 when intact, 1 naming the first broken event."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--anchors-from",
            metavar="SOURCE",
            help="also compare with the anchors exported outside the database: 'storage' (the configured "
            "file storage), a directory of exported .json anchors, or a JSON Lines / syslog file",
        )

    def handle(self, *args, anchors_from=None, **options):
        exported = None
        try:
            if anchors_from:
                exported = anchors_load(source=anchors_from)
                if not exported:
                    sys.stderr.write(f"no exported anchors found in {anchors_from}\n")
                    sys.exit(1)
            problem = chain_verify(exported=exported)
        except (OSError, ValueError) as exc:
            sys.stderr.write(f"audit chain not verified: {exc}\n")
            sys.exit(1)
        if problem is None:
            suffix = f", {len(exported)} exported anchors match" if exported else ""
            self.stdout.write(f"audit chain intact{suffix}")
            return
        sys.stderr.write(f"audit chain broken at event #{problem.event_id}: {problem.reason}\n")
        sys.exit(1)
