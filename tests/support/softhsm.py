"""A fresh SoftHSM2 token in a temporary directory, configured for ``core.hsm``.

Usage in a test or fixture::

    config = make_token(tmp_path)          # sets SOFTHSM2_CONF and calls hsm.configure(config)
    hsm.key_generate(label="k1")
    chain = make_pki()                     # root and issuing CA with keys in that token
    cert = issue(chain, label="alice")     # a signing certificate for a new token key
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import x509

from core import hsm

MODULE_PATH = "/usr/lib/softhsm/libsofthsm2.so"
SO_PIN = "5678"


def make_token(tmp_path: Path, label: str = "dsign-test", pin: str = "1234") -> hsm.HSMConfig:
    """Create a token under ``tmp_path``, point SOFTHSM2_CONF at it and configure the HSM module.

    SOFTHSM2_CONF stays set for the rest of the process (and its children), so call this once per
    test that needs a clean token; ``hsm.configure`` makes the next use re-read it.
    """
    token_dir = Path(tmp_path) / "softhsm-tokens"
    token_dir.mkdir(parents=True, exist_ok=True)
    conf = Path(tmp_path) / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {token_dir}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            label,
            "--pin",
            pin,
            "--so-pin",
            SO_PIN,
        ],
        check=True,
        capture_output=True,
    )
    config = hsm.HSMConfig(module_path=MODULE_PATH, token_label=label, user_pin=pin, so_pin=SO_PIN)
    hsm.configure(config)
    return config


@dataclass(frozen=True)
class PKIChain:
    """A root → issuing CA chain whose keys live in the token; leaves come from issue()."""

    root: x509.Certificate
    issuing: x509.Certificate
    root_key: str
    issuing_key: str


THAI_SUBJECT = {
    "common_name": "สมชาย ใจดี",
    "given_name": "สมชาย",
    "surname": "ใจดี",
    "email": "somchai@example.org",
    "organizational_unit": "ฝ่ายบัญชี",
    "organization": "สำนักงานทดสอบ",
    "country": "TH",
}


def make_pki(*, issuing_algorithm: str = "rsa2048") -> PKIChain:
    """Build a root and an issuing CA on the configured token (call make_token first)."""
    from certificates import pki

    hsm.key_generate(label="test-root", algorithm="rsa2048")
    hsm.key_generate(label="test-issuing", algorithm=issuing_algorithm)
    root = pki.build_root_ca(
        key_label="test-root",
        common_name="dsign Test Root",
        organization="สำนักงานทดสอบ",
        validity_days=3650,
    )
    issuing = pki.build_issuing_ca(
        key_label="test-issuing",
        common_name="dsign Test Issuing CA",
        organization="สำนักงานทดสอบ",
        issuer_cert=root,
        issuer_key_label="test-root",
        validity_days=1825,
        crl_url="http://127.0.0.1:9/pki/root.crl",
        ca_issuers_url="http://127.0.0.1:9/pki/root.crt",
    )
    return PKIChain(root=root, issuing=issuing, root_key="test-root", issuing_key="test-issuing")


def issue(
    chain: PKIChain,
    *,
    label: str,
    algorithm: str = "rsa2048",
    subject: dict | None = None,
    profile: str = "signing",
) -> x509.Certificate:
    """Generate ``label`` in the token and issue it a one-year certificate from the test issuing CA."""
    from certificates import pki

    public_key = hsm.key_generate(label=label, algorithm=algorithm)
    now = datetime.now(tz=UTC)
    return pki.build_end_entity(
        public_key=public_key,
        subject=subject or {**THAI_SUBJECT, "common_name": label},
        issuer_cert=chain.issuing,
        issuer_key_label=chain.issuing_key,
        serial_number=pki.random_serial(),
        not_before=now - timedelta(minutes=5),
        not_after=now + timedelta(days=365),
        crl_url="http://127.0.0.1:9/pki/issuing.crl",
        ocsp_url="http://127.0.0.1:9/pki/ocsp",
        ca_issuers_url="http://127.0.0.1:9/pki/issuing.crt",
        profile=profile,
    )
