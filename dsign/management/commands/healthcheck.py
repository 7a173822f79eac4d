import json
import socket
import sys

from django.core.management.base import BaseCommand

from dsign import health


class Command(BaseCommand):
    help = (
        "Readiness as /readyz reports it (JSON; exit 0 ready, 1 not). With --worker: exit 0 when a django-q2 "
        "cluster runs on this host (the worker container's healthcheck)."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--worker", action="store_true", help="check the qcluster of this host instead")

    def handle(self, *args, worker, **options):
        if worker:
            ok, report = health.local_cluster_alive(host=socket.gethostname())
        else:
            ok, report = health.readiness()
        self.stdout.write(json.dumps({"status": "ok" if ok else "fail", "checks": report}))
        sys.exit(0 if ok else 1)
