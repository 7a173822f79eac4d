"""Acceptance 21.2: backup, then restore into an empty var/ (and database) gives an instance whose documents
all verify, whose audit chain verifies and which signs a new document."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from bench.stack import PYTHON, database_drop, database_ensure
from signing.models import PadesLevel
from tests.conftest import blank_pdf
from tests.workflows.helpers import approve, detail, upload
from workflows.models import Document, WorkflowTemplate

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.hsm, pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

SIGN_A_NEW_DOCUMENT = """
from accounts.models import User
from workflows import services
from workflows.models import Document, WorkflowTemplate
template = WorkflowTemplate.objects.get(code="memo-2-tier")
users = {u.username: u for u in User.objects.all()}
document = services.route_start(title="หลังกู้คืน", pdf=open(PDF, "rb").read(), template=template,
                                actor=users["requester"])
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
for name in ("head1", "head2", "director"):
    device, _ = StaticDevice.objects.get_or_create(user=users[name], name="restore-check", defaults={"confirmed": True})
    StaticToken.objects.create(device=device, token="135791")
    services.decision_approve(document=Document.objects.get(pk=document.pk), actor=users[name], otp="135791")
document.refresh_from_db()
print("RESULT", document.pk, document.status)
"""

LATEST_VERSIONS = """
import json
from workflows.models import Document
print("RESULT", json.dumps({d.pk: d.versions.order_by("-number").first().file.path for d in Document.objects.all()}))
"""


@pytest.fixture
def empty_instance(tmp_path):
    """The environment of a new installation: its own var/ and an empty database of the same engine."""
    var = tmp_path / "restored-var"
    env = {k: v for k, v in os.environ.items() if k not in ("SOFTHSM2_CONF", "DATABASE_URL", "PYTEST_ADDOPTS")}
    env.update(DSIGN_VAR_DIR=str(var), Q_SYNC="true")
    database_url = None
    if connection.vendor == "postgresql":
        s = connection.settings_dict
        database_url = f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/dsign_restore_{secrets.token_hex(4)}"
        database_ensure(database_url)
        env["DATABASE_URL"] = database_url
    yield env
    if database_url:
        database_drop(database_url)


def _result(completed: subprocess.CompletedProcess) -> str:
    assert completed.returncode == 0, completed.stderr[-2000:]
    return next(line for line in completed.stdout.splitlines() if line.startswith("RESULT ")).split(" ", 1)[1]


def _manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.postgres  # pg_dump / pg_restore into a new database
def test_backup_then_restore_into_an_empty_var_verifies_documents_audit_chain_and_signs_again(
    live_server, personas, tmp_path, empty_instance
):
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    template.pades_level = PadesLevel.B_B
    template.save()
    document = upload(personas["requester"], blank_pdf(), title="ก่อนสำรอง")
    for name in ("head1", "head2", "director"):
        assert approve(personas[name], document["id"]).status_code == 202
    assert detail(personas["requester"], document["id"])["status"] == "completed"
    in_progress = upload(personas["requester"], blank_pdf(), title="ยังไม่ครบ")
    assert approve(personas["head1"], in_progress["id"]).status_code == 202

    out = tmp_path / "backup"
    call_command("backup", "--out", str(out))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["documents"] == Document.objects.count() == 2
    assert manifest["hsm"]["mode"] == "softhsm" and (out / "softhsm" / "tokens").is_dir()
    assert (out / "audit" / "events.jsonl.gz").is_file()
    sums = subprocess.run(["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=out, capture_output=True)
    assert sums.returncode == 0, sums.stdout

    env = empty_instance
    restored = _manage(env, "restore", str(out))
    assert restored.returncode == 0, restored.stderr[-2000:]
    assert _manage(env, "audit_verify").returncode == 0

    paths = json.loads(_result(_manage(env, "shell", "-c", LATEST_VERSIONS)))
    assert len(paths) == 2
    for path in paths.values():
        assert path.startswith(env["DSIGN_VAR_DIR"])
        verdict = _manage(env, "verify_pdf", path)
        assert verdict.returncode == 0, verdict.stdout + verdict.stderr

    pdf = tmp_path / "new.pdf"
    pdf.write_bytes(blank_pdf())
    signed = _manage(env, "shell", "-c", f"PDF = {str(pdf)!r}\n" + SIGN_A_NEW_DOCUMENT)
    new_id, status = _result(signed).split()
    assert status == "completed"
    new_file = json.loads(_result(_manage(env, "shell", "-c", LATEST_VERSIONS)))[new_id]
    assert _manage(env, "verify_pdf", new_file).returncode == 0
    assert _manage(env, "audit_verify").returncode == 0


def test_restore_refuses_a_damaged_backup_and_a_state_that_is_not_empty(personas, tmp_path, empty_instance):
    out = tmp_path / "backup"
    call_command("backup", "--out", str(out))
    env = empty_instance

    victim = out / "audit" / "events.jsonl.gz"
    original = victim.read_bytes()
    victim.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    damaged = _manage(env, "restore", str(out))
    assert damaged.returncode == 1
    assert damaged.stderr.strip().splitlines() == [
        "not restored: backup damaged: audit/events.jsonl.gz does not match its SHA-256"
    ]
    victim.write_bytes(original)

    assert _manage(env, "restore", str(out)).returncode == 0
    again = _manage(env, "restore", str(out))
    assert again.returncode == 1 and "is not empty" in again.stderr and len(again.stderr.strip().splitlines()) == 1
