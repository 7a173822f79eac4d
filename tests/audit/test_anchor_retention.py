"""Anchoring the chain head with the TSA, and retention that exports (timestamped) before it prunes."""

import gzip
import hashlib
import json
import subprocess
import time
from datetime import timedelta

import pytest
from asn1crypto import pem
from django.core.management import call_command
from django.db import connection, transaction

import audit
from audit import tasks
from audit.models import ChainAnchor, ChainPrune, Event
from audit.services import anchor_digest, chain_verify, event_hash, retention_apply, timestamp_token_imprint

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _record(n: int, action: str = "document.test") -> list[Event]:
    out = []
    for i in range(n):
        with transaction.atomic():
            out.append(audit.record(action=action, target=("workflows.document", i), details={"i": i}))
    return out


def _rewrite_tail_from(event_id: int, *, actor_repr: str) -> None:
    """What an attacker with database access would do: change a row and rehash everything after it."""
    prev = Event.objects.get(pk=event_id).prev_hash
    for event in Event.objects.filter(id__gte=event_id).order_by("id"):
        if event.pk == event_id:
            event.actor_repr = actor_repr
        event.prev_hash = prev
        event.hash = event_hash(event)
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE audit_event SET actor_repr=%s, prev_hash=%s, hash=%s WHERE id=%s",
                [event.actor_repr, event.prev_hash, event.hash, event.pk],
            )
        prev = event.hash
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_chainhead SET last_hash=%s WHERE id=1", [prev])


def test_anchor_timestamps_the_head_and_catches_a_rewritten_tail(live_server):
    events = _record(3)
    anchored_id = tasks.anchor_chain()
    anchor = ChainAnchor.objects.get()
    assert anchored_id == anchor.event_id == events[-1].pk
    algorithm, imprint = timestamp_token_imprint(token_der=bytes(anchor.timestamp_token))
    assert (algorithm, imprint) == ("sha256", anchor_digest(event_hash=events[-1].hash))
    assert tasks.anchor_chain() == events[-1].pk + 1  # the anchoring event moved the head: a new anchor
    assert chain_verify() is None

    _rewrite_tail_from(events[1].pk, actor_repr="mallory")
    problem = chain_verify()
    assert problem is not None and problem.event_id == events[-1].pk
    assert "anchored" in problem.reason


def test_forged_anchor_token_is_noticed(live_server):
    _record(2)
    anchor = tasks.anchor_chain() and ChainAnchor.objects.get()
    other = ChainAnchor.objects.create(
        event_id=anchor.event_id - 1,
        event_hash=Event.objects.get(pk=anchor.event_id - 1).hash,
        timestamp_token=bytes(anchor.timestamp_token),  # a real token, but over another hash
    )
    problem = chain_verify()
    assert problem is not None and problem.event_id == other.event_id and "does not cover" in problem.reason


def test_anchoring_without_a_tsa_raises_and_stores_nothing(settings):
    _record(1)
    settings.TSA_URL = "http://127.0.0.1:9/tsa"
    from audit.services import TimestampUnavailable

    with pytest.raises(TimestampUnavailable):
        tasks.anchor_chain()
    assert not ChainAnchor.objects.exists()


@pytest.mark.postgres  # on PostgreSQL the append-only trigger must let exactly this DELETE through
def test_retention_exports_timestamped_jsonl_then_prunes_and_the_chain_still_verifies(live_server, tmp_path, client):
    old = _record(4, action="document.old")
    time.sleep(0.01)  # events carry millisecond timestamps; keep the two groups apart
    young = _record(2, action="document.young")
    # Pretend it is 90 days after the first young event: everything before it is past retention.
    now = young[0].created_at + timedelta(days=90)
    first_id = Event.objects.order_by("id").values_list("id", flat=True).first()

    prune = retention_apply(retention_days=90, export_dir=tmp_path, now=now)

    assert prune == ChainPrune.objects.get()
    assert prune.first_kept_id == young[0].pk and prune.first_kept_prev_hash == young[0].prev_hash
    assert not Event.objects.filter(id__lt=young[0].pk).exists()
    assert Event.objects.filter(pk__in=[e.pk for e in young]).count() == 2
    assert chain_verify() is None

    export = tmp_path / prune.export_name.rsplit("/", 1)[-1]
    lines = [json.loads(line) for line in gzip.open(export).read().splitlines()]
    assert [line["id"] for line in lines] == list(range(first_id, young[0].pk))
    assert prune.pruned_count == len(lines) and lines[-1]["id"] == old[-1].pk
    # Each exported line re-verifies on its own: its hash covers its content and the previous line's hash.
    for before, line in zip(lines, lines[1:], strict=False):
        assert line["prev_hash"] == before["hash"]
    content = {k: v for k, v in lines[-1].items() if k != "hash"}
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    assert hashlib.sha256(canonical).hexdigest() == lines[-1]["hash"] == old[-1].hash

    token = export.with_name(export.name + ".tst")
    assert timestamp_token_imprint(token_der=token.read_bytes()) == (
        "sha256",
        hashlib.sha256(export.read_bytes()).digest(),
    )
    root = tmp_path / "root.pem"
    root.write_bytes(pem.armor("CERTIFICATE", client.get("/pki/root.crt").content))
    issuing = tmp_path / "issuing.pem"
    issuing.write_bytes(pem.armor("CERTIFICATE", client.get("/pki/ca/issuing.crt").content))
    verified = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-data",
            str(export),
            "-in",
            str(token),
            "-token_in",
            "-CAfile",
            str(root),
            "-untrusted",
            str(issuing),
        ],
        capture_output=True,
        text=True,
    )
    assert "Verification: OK" in verified.stdout, verified.stdout + verified.stderr

    assert retention_apply(retention_days=90, export_dir=tmp_path, now=now) is None  # nothing more to prune
    recorded = Event.objects.get(action="audit.retention_applied")
    assert recorded.details["first_kept_id"] == prune.first_kept_id

    if connection.vendor == "postgresql":
        return  # the trigger refuses the raw DELETE below (tested in test_chain)
    # Deleting a kept row is still caught after pruning.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_event WHERE id = %s", [young[1].pk])
    assert chain_verify().event_id == young[1].pk


def test_retention_refuses_to_prune_a_broken_chain(live_server, tmp_path):
    events = _record(3)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_event SET actor_repr='x' WHERE id=%s", [events[0].pk])
    from audit.services import ChainBroken

    with pytest.raises(ChainBroken):
        retention_apply(retention_days=90, export_dir=tmp_path, now=events[-1].created_at + timedelta(days=400))
    assert Event.objects.filter(pk=events[0].pk).exists() and not ChainPrune.objects.exists()


def test_audit_export_command_writes_jsonl_gz_with_a_token(live_server, tmp_path):
    _record(3)
    out = tmp_path / "export.jsonl.gz"
    tomorrow = (Event.objects.order_by("-id").first().created_at + timedelta(days=2)).date().isoformat()
    call_command("audit_export", "--before", tomorrow, "--out", str(out))
    lines = gzip.open(out).read().splitlines()
    assert len(lines) == Event.objects.count()
    assert (tmp_path / "export.jsonl.gz.tst").stat().st_size > 500
    assert Event.objects.count() == len(lines)  # exporting never deletes


def test_retention_stores_the_export_and_its_token_in_the_configured_storage_before_pruning(live_server, tmp_path):
    from django.core.files.storage import FileSystemStorage

    _record(3, action="document.old")
    time.sleep(0.01)
    young = _record(1, action="document.young")
    storage = FileSystemStorage(location=tmp_path / "bucket")
    work = tmp_path / "work"

    prune = retention_apply(
        retention_days=90, export_dir=work, now=young[0].created_at + timedelta(days=90), storage=storage
    )

    assert prune.export_name.startswith("audit-exports/audit-") and storage.exists(prune.export_name)
    assert storage.exists(prune.export_name + ".tst")
    with storage.open(prune.export_name) as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == prune.export_sha256
    assert chain_verify() is None
