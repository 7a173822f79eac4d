from datetime import date, datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from reports import selectors
from reports.services import report_write


def _day(name: str, value: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise CommandError(f"{name} must be YYYY-MM-DD, not {value!r}")


class Command(BaseCommand):
    help = (
        "Write report-YYYY-MM.pdf, .csv and .xlsx into DIR: transactions, failures with cause, certificate "
        "status, certificate admin log, charts. The CSV holds every section in one file with a `section` "
        "column; the XLSX has one sheet per section. With --from/--to the files are named "
        "report-FROM_TO.*."
    )

    def add_arguments(self, parser):
        parser.add_argument("--month", help="YYYY-MM (local time)")
        parser.add_argument("--from", dest="first", help="YYYY-MM-DD, first day included (instead of --month)")
        parser.add_argument("--to", dest="last", help="YYYY-MM-DD, last day included")
        parser.add_argument("--out", required=True, help="directory to write into")
        parser.add_argument("--cert-status", choices=selectors.CERTIFICATE_FILTERS, help="only certificates in it")
        parser.add_argument("--org-unit", help="only certificates of users in this unit (code) and units below")

    def handle(self, *args, month, first, last, out, cert_status, org_unit, **options):
        if month and (first or last):
            raise CommandError("give either --month or --from/--to")
        if month:
            try:
                year, number = (int(part) for part in month.split("-"))
                period = selectors.period_month(year=year, month=number)
            except ValueError:
                raise CommandError(f"--month must be YYYY-MM, not {month!r}")
        elif first and last:
            period = selectors.period_range(first_day=_day("--from", first), last_day=_day("--to", last))
            if period.end <= period.start:
                raise CommandError("--to is before --from")
        else:
            raise CommandError("give --month YYYY-MM or both --from and --to")
        files = report_write(period=period, out_dir=Path(out), cert_status=cert_status, org_unit=org_unit)
        for path in files.paths:
            self.stdout.write(str(path))
        self.stdout.write(", ".join(f"{section}: {count}" for section, count in files.counts.items()))
