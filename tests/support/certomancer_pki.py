"""A throw-away test PKI (root, issuing CA, OCSP responder, CRLs, TSA) served on 127.0.0.1.

Certomancer builds the PKI from ``certomancer.yml`` with keys generated into a temporary
directory, and its WSGI "animator" serves the TSA, OCSP and CRL endpoints on a free local
port; the certificates' AIA/CRL URLs point at that port. ``CertomancerPKI.stopped()``
takes the server down for a while (to test offline validation or an unreachable TSA)
and brings it back on the same port.

Use the session-scoped ``certomancer_pki`` fixture by importing its function into a test
module or conftest: ``from tests.support.certomancer_pki import certomancer_pki_fixture``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import x509
from certomancer.integrations.animator import Animator, AnimatorArchStore
from certomancer.registry import ArchLabel, CertLabel, CertomancerConfig, KeyLabel
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pyhanko.sign.signers import SimpleSigner
from pyhanko.sign.timestamps.aiohttp_client import HTTPTimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore
from werkzeug.serving import BaseWSGIServer, make_server

CONFIG_PATH = Path(__file__).with_name("certomancer.yml")
ARCH = ArchLabel("dsign")
KEY_LABELS = ("root", "interm", "tsa", "interm-ocsp", "signer1", "signer2", "revoked")
SIGNER_LABELS = ("signer1", "signer2", "revoked")

__all__ = ["CertomancerPKI", "certomancer_pki_fixture"]


def _generate_keys(key_dir: Path) -> None:
    for label in KEY_LABELS:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        (key_dir / f"{label}.key.pem").write_bytes(pem)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class CertomancerPKI:
    """The test PKI and the local server that animates it."""

    def __init__(self, *, key_dir: Path, port: int | None = None):
        _generate_keys(key_dir)
        self.port = port or _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = CertomancerConfig.from_file(
            str(CONFIG_PATH),
            key_search_dir=str(key_dir),
            external_url_prefix=self.base_url,
        )
        self.arch = config.get_pki_arch(ARCH)
        self._app = Animator(AnimatorArchStore(config.pki_archs), with_web_ui=False)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # --- the server -----------------------------------------------------------------

    def start(self) -> None:
        if self._server is not None:
            return
        self._server = make_server("127.0.0.1", self.port, self._app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        assert self._thread is not None
        self._thread.join(timeout=5)
        self._server = self._thread = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """Take the TSA/OCSP/CRL server down for the duration of the block."""
        was_running = self.running
        self.stop()
        try:
            yield
        finally:
            if was_running:
                self.start()

    # --- certificates, keys and services --------------------------------------------

    def cert(self, label: str) -> x509.Certificate:
        return self.arch.get_cert(CertLabel(label))

    @property
    def root_cert(self) -> x509.Certificate:
        return self.cert("root")

    @property
    def root_pem(self) -> bytes:
        from asn1crypto import pem

        return pem.armor("CERTIFICATE", self.root_cert.dump())

    def signer(self, label: str = "signer1") -> SimpleSigner:
        """A software signer for ``label`` with its chain (root included)."""
        return SimpleSigner(
            signing_cert=self.cert(label),
            signing_key=self.arch.key_set.get_private_key(KeyLabel(label)),
            cert_registry=SimpleCertificateStore.from_certs([self.cert("interm"), self.root_cert]),
        )

    @property
    def tsa_url(self) -> str:
        return f"{self.base_url}/{ARCH}/tsa/tsa"

    def timestamper(self) -> HTTPTimeStamper:
        return HTTPTimeStamper(self.tsa_url, timeout=5)

    def validation_context(self, *, allow_fetching: bool = True, **kwargs) -> ValidationContext:
        """A context trusting only this PKI's root, requiring revocation data."""
        kwargs.setdefault("revocation_mode", "hard-fail")
        return ValidationContext(
            trust_roots=[self.root_cert],
            other_certs=[self.cert("interm")],
            allow_fetching=allow_fetching,
            **kwargs,
        )


@pytest.fixture(scope="session", name="certomancer_pki")
def certomancer_pki_fixture(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[CertomancerPKI]:
    pki = CertomancerPKI(key_dir=tmp_path_factory.mktemp("certomancer-keys"))
    pki.start()
    try:
        yield pki
    finally:
        pki.stop()
