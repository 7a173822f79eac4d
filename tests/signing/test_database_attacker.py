"""Issue 16, acceptance 3: someone who reads the whole database cannot produce signature activation
data for any user.

The attacker reads every row of every table (as a dump or a stolen backup would give them), looks for
the factor secrets the signer checks, and then tries the signer with everything they found: codes,
seeds, the SAD a finished job left behind, re-MACed with every value of the dump as a key, and one
user's sealed factors presented for another user.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re

import pytest
from django.db import connection
from django_otp.oath import TOTP

from core import signer as signer_client
from signing import activation

pytestmark = [pytest.mark.hsm, pytest.mark.django_db]


def _whole_database() -> list[str]:
    values: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            for row in cursor.fetchall():
                for cell in row:
                    if cell is None:
                        continue
                    values.append(cell.hex() if isinstance(cell, bytes | memoryview) else str(cell))
    return values


def _victim_with_every_kind_of_factor(personas, api_for):
    """head3 with backup codes, a TOTP authenticator and an e-mailed code waiting to be typed (devices
    made directly: what is stored matters here, not the enrolment rules)."""
    import secrets

    from django.core import mail
    from django_otp.plugins.otp_email.models import EmailDevice
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
    from django_otp.plugins.otp_totp.models import TOTPDevice

    head3 = personas["head3"]
    static = StaticDevice.objects.create(user=head3, name="Backup codes", confirmed=True)
    codes = [StaticToken.random_token() for _n in range(10)]
    for code in codes:
        StaticToken.objects.create(device=static, token=code)
    seed = secrets.token_bytes(20)
    TOTPDevice.objects.create(user=head3, name="Authenticator", key=seed.hex(), confirmed=True)
    email = EmailDevice.objects.create(user=head3, name="E-mail", email="head3@dsign.example", confirmed=True)
    mail.outbox.clear()
    email.generate_challenge()
    emailed = "".join(ch for ch in mail.outbox[-1].body if ch.isdigit())[-6:]
    return head3, set(codes), seed, (email, emailed)


def _sad_from_a_finished_job(personas, otp, pdf_bytes) -> str:
    from signing import services as signing_services
    from workflows import services
    from workflows.models import WorkflowTemplate

    # B-B: no TSA or revocation server is needed to see what the signer does.
    WorkflowTemplate.objects.filter(code="memo-2-tier").update(pades_level="B-B")
    document = services.route_start(
        title="บันทึกที่ลงนามแล้ว",
        pdf=pdf_bytes,
        template=WorkflowTemplate.objects.get(code="memo-2-tier"),
        actor=personas["requester"],
    )
    head1 = personas["head1"]
    seat = services.decision_approve(document=document, actor=head1, otp=otp(head1))
    from signing.models import JobStatus, SigningJob

    signing_services.signing_job_run(job_id=seat.signing_job_id)
    job = SigningJob.objects.get(pk=seat.signing_job_id)
    assert job.status == JobStatus.DONE and job.activation
    sad = job.activation
    return sad


def test_the_database_holds_no_usable_factor_secret(personas, api_for):
    head3, backup_codes, seed, emailed = _victim_with_every_kind_of_factor(personas, api_for)
    dump = "\n".join(_whole_database())

    for code in backup_codes:
        assert code not in dump
    assert seed.hex() not in dump and base64.b32encode(seed).decode().rstrip("=") not in dump
    email, emailed = emailed
    email.refresh_from_db()
    assert email.token != emailed


def test_nothing_in_the_database_produces_activation_data(personas, api_for, otp, pdf_bytes):
    from signing.models import ActivationFactor

    head3, _, _, _ = _victim_with_every_kind_of_factor(personas, api_for)
    finished_sad = _sad_from_a_finished_job(personas, otp, pdf_bytes)
    values = _whole_database()
    item = {"subject": 999, "sha256": "cd" * 32, "size": 4096}
    factors = [{"kind": f.kind, "sealed": f.sealed} for f in ActivationFactor.objects.filter(user_id=head3.pk)]
    assert factors

    # 1. Codes: whatever in the dump looks like a code, and TOTP codes of whatever looks like a seed.
    candidates = {v for v in values if re.fullmatch(r"[0-9a-z~]{6,16}", v)}
    seeds = {v for v in values if re.fullmatch(r"[0-9a-f]{40}", v)}
    tried = sorted(candidates)[:4] + [f"{TOTP(bytes.fromhex(s)).token():06d}" for s in sorted(seeds)[:4]]
    for code in tried:
        with pytest.raises(signer_client.SignerError):
            signer_client.call("activate", user_id=head3.pk, code=code, items=[item], factors=factors)

    # 2. A SAD found in the database, re-pointed at another document and re-MACed with every value.
    body, _ = finished_sad.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["items"] = [item]
    new_body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    keys = {v.encode() for v in values if len(v) >= 16}
    for key in sorted(keys)[:500]:
        mac = hmac.new(key, activation.SAD_PREFIX + new_body, hashlib.sha256).digest()
        sad = base64.urlsafe_b64encode(new_body).decode().rstrip("=") + "." + base64.urlsafe_b64encode(mac).decode()
        with pytest.raises(activation.SignerRefused) as refused:
            activation._sad_open(sad)
        assert refused.value.code == "activation_invalid"

    # 3. One user's sealed factors presented for another user open nothing.
    head1 = personas["head1"]
    head1_factors = [{"kind": f.kind, "sealed": f.sealed} for f in ActivationFactor.objects.filter(user_id=head1.pk)]
    with pytest.raises(signer_client.SignerError) as refused:
        signer_client.call("activate", user_id=head3.pk, code="246810", items=[item], factors=head1_factors)
    assert refused.value.code == "no_factor"
