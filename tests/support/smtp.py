"""SMTP servers for the mail tests: one that accepts connections and never answers (or answers once)."""

from __future__ import annotations

import socket
import threading


class SilentSMTPServer:
    """Accepts connections and never says a word (an SMTP server that hangs), or only `greeting`."""

    def __init__(self, *, greeting: bytes = b""):
        self.greeting = greeting
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)
            if self.greeting:
                conn.sendall(self.greeting)

    def close(self) -> None:
        self.sock.close()
        for conn in self.connections:
            conn.close()


def use_smtp_server(settings, server: SilentSMTPServer, *, timeout: int = 1) -> None:
    """Point Django's SMTP backend at `server` (pytest-django's `settings` fixture)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = timeout
