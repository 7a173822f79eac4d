"""Helpers for certificate tests: an external CA played by the openssl CLI, PEM files on disk."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import pem, x509


def openssl(*args, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, input=input, check=False)


def openssl_ok(*args) -> str:
    result = openssl(*args)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")


def write_pem(path: Path, cert: x509.Certificate | bytes) -> Path:
    der = cert if isinstance(cert, bytes) else cert.dump()
    path.write_bytes(pem.armor("CERTIFICATE", der))
    return path


LEAF_EXTENSIONS = """\
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,nonRepudiation
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
"""


@dataclass
class OpensslCA:
    """A CA under an NRCA-like root, run with `openssl x509 -req`, the way an external CA would answer a CSR."""

    directory: Path
    cert: Path
    key: Path

    def sign_csr(self, csr_pem: str, *, name: str, days: int = 400) -> Path:
        csr = self.directory / f"{name}.csr"
        csr.write_text(csr_pem)
        ext = self.directory / "leaf.ext"
        ext.write_text(LEAF_EXTENSIONS)
        out = self.directory / f"{name}.crt"
        openssl_ok(
            "x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key, "-CAcreateserial",
            "-days", days, "-sha256", "-extfile", ext, "-out", out,
        )  # fmt: skip
        return out

    def issue_with_new_key(self, *, name: str, rsa: bool = False) -> tuple[Path, Path]:
        """A key made outside the token and its certificate (a user who already holds one)."""
        key = self.directory / f"{name}.key"
        if rsa:
            openssl_ok("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key)
        else:
            openssl_ok("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
        csr = self.directory / f"{name}.csr"
        openssl_ok("req", "-new", "-key", key, "-subj", f"/C=TH/O=Test/CN={name}", "-utf8", "-out", csr)
        return key, self.sign_csr(csr.read_text(), name=name)


def make_openssl_ca(directory: Path, *, name: str = "Test NRCA Root") -> OpensslCA:
    directory.mkdir(parents=True, exist_ok=True)
    key, cert = directory / "ca.key", directory / "ca.crt"
    openssl_ok(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
        "-out", cert, "-days", 3650, "-subj", f"/C=TH/O=Test CA/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return OpensslCA(directory=directory, cert=cert, key=key)


@pytest.fixture
def external_ca(tmp_path) -> OpensslCA:
    return make_openssl_ca(tmp_path / "external-ca")


@pytest.fixture
def rogue_ca(tmp_path) -> OpensslCA:
    return make_openssl_ca(tmp_path / "rogue-ca", name="Rogue Root")


def second_ca_officer():
    """Another CA officer, for the four-eyes approval of a trust root someone else added."""
    from django.contrib.auth.models import Group

    from accounts.models import User
    from accounts.roles import roles_sync

    roles_sync()
    officer, _ = User.objects.get_or_create(username="officer-b", defaults={"email": "officer-b@dsign.example"})
    officer.groups.add(Group.objects.get(name="ca_officer"))
    return officer


def approved(root):
    """The root approved by a second CA officer (four eyes), as it must be before anything chains to it."""
    from certificates import external

    return external.trust_root_approve(trust_root=root, actor=second_ca_officer())
