"""`manage.py signer`: the signer process, the only one given the users' token PIN (issue 16).

It listens on a local Unix socket (SIGNER_SOCKET, mode 0660) and answers one JSON request per
connection with signing/activation.py. It logs in to the users' token only; the CA and services
tokens are not configured in this process at all.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socketserver
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core import hsm, signer
from signing import activation, setup

logger = logging.getLogger("dsign.signer")


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            request = json.loads(signer.read_frame(self.request))
            answer = activation.handle(request) if isinstance(request, dict) else None
        except (ValueError, ConnectionError) as exc:
            answer = {"ok": False, "code": "bad_request", "message": f"unreadable request: {exc}"}
        if answer is None:
            answer = {"ok": False, "code": "bad_request", "message": "a request is a JSON object"}
        if not answer.get("ok"):
            logger.info("refused %s: %s", request.get("op") if isinstance(request, dict) else "?", answer.get("code"))
        try:
            signer.write_frame(self.request, json.dumps(answer).encode())
        except OSError:
            pass


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class Command(BaseCommand):
    help = "Run the signer: users' keys are used only with valid signature activation data."
    # The web tier's checks (its secret key, the CA and services PINs) are not the signer's business: it
    # is given none of those; it refuses to start without the users' PIN instead.
    requires_system_checks: list = []

    def add_arguments(self, parser):
        parser.add_argument("--socket", default=str(settings.SIGNER_SOCKET), help="Unix socket path")

    def handle(self, *args, **options):
        pin = settings.HSM_USERS_PIN or setup.users_pin_default()
        if not pin:
            raise CommandError("the signer needs the users' token PIN (HSM_USERS_PIN or HSM_USERS_PIN_FILE)")
        setup.hsm_configure_signer(users_pin=pin)
        signer.use_local(None)
        try:
            activation.keys_ensure()
        except hsm.HSMUnavailable as exc:
            # Serve anyway: callers get "hsm_unavailable" and their jobs wait, as with any HSM outage.
            logger.warning("users' token not available yet: %s", exc)
        except hsm.HSMError as exc:
            raise CommandError(f"users' token not usable: {exc}") from exc
        path = options["socket"]
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        if os.path.exists(path):
            os.unlink(path)
        old_umask = os.umask(0o117)
        try:
            server = _Server(path, _Handler)
        finally:
            os.umask(old_umask)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        self.stdout.write(f"signer listening on {path}")
        self.stdout.flush()
        try:
            server.serve_forever(poll_interval=0.5)
        finally:
            server.server_close()
            if os.path.exists(path):
                os.unlink(path)
