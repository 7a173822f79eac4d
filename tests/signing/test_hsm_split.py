"""Issue 16, migration: `hsm_split` moves a single-token installation to the split layout; no key leaves
the HSM, existing signatures stay valid, sealed factors still activate signing, and a second run does
nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.support.signer import ROOT

pytestmark = [pytest.mark.hsm, pytest.mark.slow]

LEGACY_PIN = "legacy-single-pin"
USERS_PIN = "new-users-pin"

SIGN_BEFORE = r"""
import hashlib, io, json, pikepdf, sys
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from accounts.models import User
from certificates.selectors import certificate_for_signing, signing_credentials_get
from signing import pades, services
from signing.activated_signer import ActivatedSigner
head1 = User.objects.get(username="head1")
device, _ = StaticDevice.objects.get_or_create(user=head1, name="split", defaults={"confirmed": True})
for code in ("111222", "333444"):
    StaticToken.objects.create(device=device, token=code)
doc = pikepdf.new(); doc.add_blank_page(); out = io.BytesIO(); doc.save(out); pdf = out.getvalue()
item = {"subject": 1, "sha256": hashlib.sha256(pdf).hexdigest(), "size": len(pdf)}
sad = services.signature_activate(user=head1, code="111222", items=[item])
creds = signing_credentials_get(certificate_id=certificate_for_signing(user=head1).pk)
signer = ActivatedSigner(activation=sad, subject_id=1, key_label=creds.key_label, signing_cert=creds.certificate,
                         other_certs=creds.chain)
open("OLD_PDF", "wb").write(pades.sign_pdf(pdf=pdf, signer=signer, field_name="Sig1"))
print("LABEL=" + creds.key_label)
"""

AFTER = r"""
import hashlib, json
from core import hsm
from accounts.models import User
from certificates.models import Certificate
from signing import services
head1 = User.objects.get(username="head1")
certs = {c.status: c.key_label for c in Certificate.objects.filter(user=head1)}
item = {"subject": 2, "sha256": "ab" * 32, "size": 10}
sad = services.signature_activate(user=head1, code="333444", items=[item])
print("RESULT=" + json.dumps({
    "ca": hsm.labels(realm="ca"), "services": hsm.labels(realm="services"), "users": hsm.labels(realm="users"),
    "certs": certs, "sad": bool(sad),
}))
"""


def _env(var_dir, **extra) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "HSM_", "SIGNER_", "SOFTHSM2"))}
    keep.pop("DATABASE_URL", None)
    keep.update(DSIGN_VAR_DIR=str(var_dir), Q_SYNC="true", **extra)
    return keep


def _manage(env, *args, check=True):
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    if check:
        assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-3000:])
    return result


def test_hsm_split_moves_a_single_token_install_keeping_signatures_and_factors(tmp_path):
    single = _env(tmp_path, HSM_LAYOUT="single", HSM_PIN=LEGACY_PIN, HSM_USERS_PIN=LEGACY_PIN)
    for command in (["hsm_init"], ["migrate", "--noinput", "-v0"], ["ca_init"], ["seed_demo"]):
        _manage(single, *command)
    old_pdf = tmp_path / "old.pdf"
    before = _manage(single, "shell", "-c", SIGN_BEFORE.replace("OLD_PDF", str(old_pdf)))
    old_label = next(x for x in before.stdout.splitlines() if x.startswith("LABEL=")).removeprefix("LABEL=")

    split_run = _manage(_env(tmp_path, HSM_LAYOUT="single", HSM_PIN=LEGACY_PIN, HSM_USERS_PIN=USERS_PIN), "hsm_split")
    assert "HSM_CA_TOKEN_LABEL=dsign" in split_run.stdout

    split = _env(
        tmp_path, HSM_LAYOUT="split", HSM_CA_TOKEN_LABEL="dsign", HSM_CA_PIN=LEGACY_PIN, HSM_USERS_PIN=USERS_PIN
    )
    slots = subprocess.run(
        ["softhsm2-util", "--show-slots"],
        env={**split, "SOFTHSM2_CONF": str(tmp_path / "softhsm2.conf")},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    labels = set(re.findall(r"^\s*Label:\s+(\S+)\s*$", slots, flags=re.MULTILINE))
    assert {"dsign", "dsign-services", "dsign-users"} <= labels
    assert _manage(split, "verify_pdf", str(old_pdf), check=False).returncode == 0

    after = _manage(split, "shell", "-c", AFTER)
    result = json.loads(next(x for x in after.stdout.splitlines() if x.startswith("RESULT=")).removeprefix("RESULT="))
    assert set(result["ca"]) == {"ca-root", "ca-issuing"}
    assert set(result["services"]) == {"ca-ocsp", "ca-tsa"}
    assert old_label not in result["users"] and old_label not in result["ca"]
    assert result["certs"]["superseded"] == old_label
    assert result["certs"]["pending_acceptance"] in result["users"]
    assert result["sad"] is True

    again = _manage(_env(tmp_path, HSM_LAYOUT="single", HSM_PIN=LEGACY_PIN, HSM_USERS_PIN=USERS_PIN), "hsm_split")
    assert "0 certificates renewed" in again.stdout


ROOT_APART = r"""
import json
from core import hsm
from certificates import responders
from certificates.models import CertificateAuthority
responders.crls_refresh()
root = CertificateAuthority.objects.get(kind="root")
print("RESULT=" + json.dumps({
    "ca": hsm.labels(realm="ca"), "services": hsm.labels(realm="services"),
    "root_crl_days": (root.crl_next_update - root.created_at).days,
    "root_pin_here": bool(hsm.get_config("root").user_pin),
}))
"""


def test_ca_ceremony_keeps_the_root_in_its_own_token_and_the_running_system_needs_only_the_issuing_ca(tmp_path):
    ceremony = _env(tmp_path, HSM_ROOT_TOKEN_LABEL="dsign-root", HSM_ROOT_PIN="root-ceremony-pin")
    _manage(ceremony, "hsm_init")
    _manage(ceremony, "migrate", "--noinput", "-v0")
    assert "take dsign-root offline" in _manage(ceremony, "ca_ceremony").stdout

    running = _env(
        tmp_path, HSM_ROOT_TOKEN_LABEL="dsign-root", HSM_USERS_PIN_FILE=str(tmp_path / "secrets" / "hsm-users.pin")
    )
    after = _manage(running, "shell", "-c", ROOT_APART)
    result = json.loads(next(x for x in after.stdout.splitlines() if x.startswith("RESULT=")).removeprefix("RESULT="))
    assert result["ca"] == ["ca-issuing"]
    assert set(result["services"]) == {"ca-ocsp", "ca-tsa"}
    assert result["root_pin_here"] is False
    assert result["root_crl_days"] >= 365
    # Users' certificates are issued by the issuing CA without the root.
    _manage(running, "seed_demo")
