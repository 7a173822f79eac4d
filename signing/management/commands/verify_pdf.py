"""verify_pdf FILE [--json] [--trust-root CERT] [--password-file F]: exit 0 valid, 1 not valid, 2 unreadable
(one line on stderr)."""

import json
import sys
from pathlib import Path

from asn1crypto import pem, x509
from django.core.management.base import BaseCommand

from signing import verification
from signing.selectors import verification_revocations, verification_trust_roots


class Command(BaseCommand):
    help = "Verify every signature of a PDF against the configured trust roots."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--json", action="store_true", help="print the full report as JSON")
        parser.add_argument("--lang", choices=["en", "th"], default="en")
        parser.add_argument(
            "--trust-root",
            action="append",
            metavar="CERT",
            help="trust this root certificate (PEM or DER file) instead of the configured roots; repeatable",
        )
        parser.add_argument(
            "--password-file",
            help="read the password of an encrypted PDF from this file ('-' for stdin), not the command line",
        )

    def handle(self, *args, **options):
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            self._unreadable(f"cannot read {path}: {exc.strerror or exc}")
        password = None
        if options["password_file"]:
            source = options["password_file"]
            try:
                raw = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
            except OSError as exc:
                self._unreadable(f"cannot read the password file {source}: {exc.strerror or exc}")
            password = raw.rstrip("\r\n")
        try:
            report = verification.verify_pdf_bytes(
                data=data,
                trust_roots=self._roots(options["trust_root"]),
                lang=options["lang"],
                password=password,
                # the configured roots come with dsign's own CA records; roots given by hand stand alone
                revocations=[] if options["trust_root"] else verification_revocations(),
            )
        except verification.EncryptedPDF as exc:
            self._unreadable(f"{path}: {exc} (use --password-file)")
        except verification.UnreadablePDF as exc:
            self._unreadable(f"{path}: not a readable PDF: {exc}")
        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False, indent=2))
        else:
            self.stdout.write(("VALID" if report["valid"] else "NOT VALID") + f": {path}")
            if report.get("container") == "encrypted_copy":
                inner = "valid" if report.get("inner_valid") else "NOT valid"
                self.stdout.write(
                    f"  (an encrypted copy: the signed document inside it is {inner}; the wrapper itself is not signed)"
                )
            for sig in report["signatures"]:
                verdict = "valid" if sig["valid"] else "NOT valid"
                self.stdout.write(f"  {sig['field']}: {verdict} — {sig.get('signer') or '?'} ({sig['level']})")
                for problem in sig["problems"]:
                    self.stdout.write(f"    - {problem}")
            for problem in report["problems"]:
                self.stdout.write(f"  - {problem}")
        sys.exit(0 if report["valid"] else 1)

    def _roots(self, paths: list[str] | None) -> list[x509.Certificate]:
        if not paths:
            return verification_trust_roots()
        roots = []
        for name in paths:
            try:
                data = Path(name).read_bytes()
                if pem.detect(data):
                    _, _, data = pem.unarmor(data)
                roots.append(x509.Certificate.load(data))
                roots[-1].native  # noqa: B018 - a broken certificate is reported here, not mid-verification
            except (OSError, ValueError) as exc:
                self._unreadable(f"cannot read the trust root {name}: {exc}")
        return roots

    def _unreadable(self, message: str):
        sys.stderr.write(message.replace("\n", " ") + "\n")
        sys.exit(2)
