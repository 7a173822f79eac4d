"""Anchors are checked against the configured TSA and against their copy outside the database.

The attacker has a copy of the database and the open `/pki/tsa`: they rewrite an event, rehash the
chain, and re-anchor it with genuine tokens from the TSA. `audit_verify` alone cannot tell; with
`--anchors-from` (the anchors written outside the database when they were made) it exits 1.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import cms, core, pem, tsp
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction

import audit
from audit import anchors, tasks
from audit.models import ChainAnchor, Event
from audit.services import anchor_digest, chain_verify, event_hash, timestamp_digest
from certificates.models import CertificateAuthority

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def anchor_file(tmp_path, settings):
    path = tmp_path / "outside" / "anchors.jsonl"
    settings.AUDIT_ANCHOR_EXPORT = f"file:{path}"
    return path


def _record(n: int) -> list[Event]:
    out = []
    for i in range(n):
        with transaction.atomic():
            out.append(audit.record(action="document.test", target=("workflows.document", i), details={"i": i}))
    return out


def _rewrite_and_reanchor(event_id: int) -> None:
    """Change one event, rehash everything after it, and replace every anchor's token with a fresh one."""
    prev = Event.objects.get(pk=event_id).prev_hash
    with connection.cursor() as cursor:
        for event in Event.objects.filter(id__gte=event_id).order_by("id"):
            if event.pk == event_id:
                event.actor_repr = "mallory"
            event.prev_hash = prev
            event.hash = event_hash(event)
            cursor.execute(
                "UPDATE audit_event SET actor_repr=%s, prev_hash=%s, hash=%s WHERE id=%s",
                [event.actor_repr, event.prev_hash, event.hash, event.pk],
            )
            prev = event.hash
        cursor.execute("UPDATE audit_chainhead SET last_hash=%s WHERE id=1", [prev])
        for anchor in ChainAnchor.objects.all():
            new_hash = Event.objects.get(pk=anchor.event_id).hash
            token = timestamp_digest(digest=anchor_digest(event_hash=new_hash))  # genuine, from /pki/tsa
            cursor.execute(
                "UPDATE audit_chainanchor SET event_hash=%s, timestamp_token=%s WHERE id=%s",
                [new_hash, token, anchor.pk],
            )


def _audit_verify(*args: str) -> subprocess.CompletedProcess:
    """The real command in its own process, against this test database."""
    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        url = f"sqlite:///{name}"
    else:
        s = connection.settings_dict
        url = f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{name}"
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "manage.py", "audit_verify", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _unsigned_token(*, digest: bytes, when: datetime) -> bytes:
    tst = tsp.TSTInfo(
        {
            "version": "v1",
            "policy": "1.2.3.4",
            "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": digest},
            "serial_number": 1,
            "gen_time": when,
        }
    )
    signed = cms.SignedData(
        {
            "version": "v3",
            "digest_algorithms": [],
            "encap_content_info": {"content_type": "tst_info", "content": core.ParsableOctetString(tst.dump())},
            "signer_infos": [],
        }
    )
    return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()


def test_rewritten_and_reanchored_chain_passes_alone_but_fails_against_the_exported_anchors(live_server, anchor_file):
    events = _record(4)
    tasks.anchor_chain()
    _record(2)
    tasks.anchor_chain()
    assert anchor_file.exists() and len(anchor_file.read_text().splitlines()) == 2
    assert oct(anchor_file.stat().st_mode & 0o777) == "0o600"
    ok = _audit_verify("--anchors-from", str(anchor_file))
    assert ok.returncode == 0, ok.stderr

    _rewrite_and_reanchor(events[1].pk)

    alone = _audit_verify()
    assert alone.returncode == 0, alone.stderr  # a consistent rewrite with genuine tokens: the database agrees
    outside = _audit_verify("--anchors-from", str(anchor_file))
    assert outside.returncode == 1
    assert "outside the database" in outside.stderr and "rewritten" in outside.stderr
    assert outside.stderr.count("\n") == 1


def test_an_anchor_added_in_the_database_only_is_noticed(live_server, anchor_file):
    _record(2)
    tasks.anchor_chain()
    exported = anchors.anchors_load(source=str(anchor_file))
    _record(1)
    head = Event.objects.order_by("-id").first()
    ChainAnchor.objects.create(
        event_id=head.pk,
        event_hash=head.hash,
        timestamp_token=timestamp_digest(digest=anchor_digest(event_hash=head.hash)),
    )
    assert chain_verify() is None
    problem = chain_verify(exported=exported)
    assert problem is not None and "not among the anchors exported" in problem.reason


def test_a_fake_unsigned_token_dated_2020_fails(live_server, anchor_file):
    events = _record(2)
    fake = _unsigned_token(digest=anchor_digest(event_hash=events[-1].hash), when=datetime(2020, 1, 1, tzinfo=UTC))
    ChainAnchor.objects.create(event_id=events[-1].pk, event_hash=events[-1].hash, timestamp_token=fake)
    problem = chain_verify()
    assert problem is not None and problem.event_id == events[-1].pk and "not signed" in problem.reason
    result = _audit_verify()
    assert result.returncode == 1 and "not signed" in result.stderr

    # The same forgery in the outside copy fails too.
    line = anchors.anchor_line(
        anchor_id=1, event_id=events[-1].pk, event_hash=events[-1].hash, token=fake, created_at=events[-1].created_at
    )
    anchor_file.parent.mkdir(parents=True, exist_ok=True)
    anchor_file.write_text(line + "\n")
    ChainAnchor.objects.all().delete()
    problem = chain_verify(exported=anchors.anchors_load(source=str(anchor_file)))
    assert problem is not None and "not signed" in problem.reason


def test_a_genuine_token_dated_before_its_event_or_over_another_hash_fails(live_server):
    events = _record(1)
    digest = anchor_digest(event_hash=events[0].hash)
    token = timestamp_digest(digest=digest)
    trust = anchors.configured_tsa_certificates()
    assert anchors.token_problem(token_der=token, digest=digest, not_before=events[0].created_at, trust=trust) is None
    later = events[0].created_at + timedelta(days=1)  # an event claiming a time after its anchor
    reason = anchors.token_problem(token_der=token, digest=digest, not_before=later, trust=trust)
    assert reason and "before the event it covers" in reason
    reason = anchors.token_problem(token_der=token, digest=b"\0" * 32, not_before=events[0].created_at, trust=trust)
    assert reason == "its timestamp token does not cover its hash"


def test_tokens_must_chain_to_the_configured_tsa_certificate(live_server, anchor_file, tmp_path, settings):
    _record(2)
    tasks.anchor_chain()
    assert chain_verify() is None
    root = CertificateAuthority.objects.get(kind="root").certificate
    ocsp = CertificateAuthority.objects.get(kind="ocsp").certificate
    (tmp_path / "root.pem").write_bytes(pem.armor("CERTIFICATE", root.dump()))
    (tmp_path / "other.pem").write_bytes(pem.armor("CERTIFICATE", ocsp.dump()))

    settings.TSA_CERTIFICATE = str(tmp_path / "root.pem")  # a CA above the TSA: its tokens chain to it
    assert chain_verify() is None
    settings.TSA_CERTIFICATE = str(tmp_path / "other.pem")  # another service's certificate: they do not
    problem = chain_verify()
    assert problem is not None and "not signed by the configured TSA" in problem.reason


def test_anchors_go_to_the_file_storage_by_default_and_verify_from_there(live_server, settings, tmp_path):
    settings.AUDIT_ANCHOR_EXPORT = "storage"
    settings.MEDIA_ROOT = str(tmp_path)
    _record(2)
    tasks.anchor_chain()
    exported = anchors.anchors_load(source="storage")
    assert [a.event_id for a in exported] == [ChainAnchor.objects.get().event_id]
    call_command("audit_verify", "--anchors-from", "storage")


def test_anchors_sent_to_syslog_verify_from_the_collected_log(live_server, settings, tmp_path):
    received: list[bytes] = []
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(10)
    thread = threading.Thread(target=lambda: received.append(server.recv(65535)))
    thread.start()
    settings.AUDIT_ANCHOR_EXPORT = f"syslog://127.0.0.1:{server.getsockname()[1]}"
    _record(2)
    tasks.anchor_chain()
    thread.join(10)
    server.close()
    log = tmp_path / "auth.log"
    log.write_bytes(b"Dec  1 08:00:00 host " + received[0] + b"\n")
    exported = anchors.anchors_load(source=str(log))
    assert len(exported) == 1
    assert chain_verify(exported=exported) is None


def test_anchoring_stops_when_the_outside_copy_cannot_be_written(live_server, settings, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    settings.AUDIT_ANCHOR_EXPORT = f"file:{blocker}/anchors.jsonl"
    _record(1)
    with pytest.raises(anchors.AnchorExportFailed):
        tasks.anchor_chain()
    assert not ChainAnchor.objects.exists()
