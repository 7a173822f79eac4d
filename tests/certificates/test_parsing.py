"""Uploaded certificate files are parsed as they are: DER is binary and is never stripped like PEM text."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certificates import external

WHITESPACE = b" \t\n\r\x0b\x0c"


def _self_signed_der() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        cx509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(cx509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(cx509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.mark.django_db
def test_a_der_certificate_ending_in_a_whitespace_byte_is_read_whole():
    # About one DER signature in 40 ends in a byte that bytes.strip() would remove.
    der = next(d for d in (_self_signed_der() for _ in range(5000)) if d[-1:] in WHITESPACE)
    [cert] = external._load_certificates(der)
    assert cert.dump() == der
    assert external.trust_root_parse(der).dump() == der
