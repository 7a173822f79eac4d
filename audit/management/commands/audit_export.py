import sys
from datetime import datetime, time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.models import Event
from audit.services import TimestampUnavailable, events_export


def _date(value: str):
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise CommandError(f"--before must be a date YYYY-MM-DD, not {value!r}")


class Command(BaseCommand):
    help = (
        "Export audit events created before DATE (local time) to gzip-compressed JSON Lines, with an RFC 3161 "
        "timestamp token over the file in FILE.tst. Exports never delete; retention does (audit.tasks)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--before", required=True, help="YYYY-MM-DD: events created before this day")
        parser.add_argument("--out", required=True, help="the .jsonl.gz file to write")
        parser.add_argument("--no-timestamp", action="store_true", help="do not ask the TSA for a token")

    def handle(self, *args, before, out, no_timestamp, **options):
        cutoff = timezone.make_aware(datetime.combine(_date(before), time.min))
        try:
            result = events_export(
                events=Event.objects.filter(created_at__lt=cutoff), out=Path(out), timestamp=not no_timestamp
            )
        except TimestampUnavailable as exc:
            sys.stderr.write(f"export not written: {exc}\n")
            sys.exit(1)
        self.stdout.write(
            f"{result.count} events (#{result.first_id}..#{result.last_id}) -> {result.path} sha256={result.sha256}"
            + (f", timestamp {result.timestamp_path}" if result.timestamp_path else "")
        )
