"""Writing and verifying the event log.

Every state change in dsign calls `record` inside its own transaction, so the event and the change commit
or roll back together. Events are chained: each carries the hash of the previous one, and the chain head
row is locked while an event is appended, so concurrent writers produce one linear chain.
"""

import asyncio
import contextlib
import contextvars
import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
from asn1crypto import cms
from django.db import connection, models, transaction
from django.utils import timezone

from . import anchors
from .context import current_request
from .models import ChainAnchor, ChainHead, ChainPrune, Event, Outcome

GENESIS_HASH = "0" * 64


def event_content(event: Event) -> dict:
    """The hashed fields of an event (also the line format of exports, which add "hash").

    `api_client` is hashed only when set, so events written before it existed keep their hashes.
    """
    content = {
        "id": event.pk,
        "created_at": event.created_at.isoformat(timespec="microseconds"),
        "actor_id": event.actor_id,
        "actor_repr": event.actor_repr,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target_repr": event.target_repr,
        "outcome": event.outcome,
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
        "details": event.details,
        "prev_hash": event.prev_hash,
    }
    if event.api_client:
        content["api_client"] = event.api_client
    return content


def _canonical(event: Event) -> bytes:
    return json.dumps(
        event_content(event), sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    ).encode()


def event_hash(event: Event) -> str:
    return hashlib.sha256(_canonical(event)).hexdigest()


def _now_milliseconds():
    # Millisecond precision survives every serialiser (Django's JSON encoder drops microseconds), so an
    # event dumped and loaded again (dumpdata, test fixtures) still matches its hash.
    now = timezone.now()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _target_fields(target) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    if isinstance(target, models.Model):
        return target._meta.label_lower, str(target.pk), str(target)[:300]
    if isinstance(target, tuple):
        target_type, target_id = target
        return target_type, str(target_id), ""
    return type(target).__name__, "", str(target)[:300]


def _actor_repr(actor, actor_obj, request) -> str:
    if actor_obj is not None:
        return str(actor_obj.username)
    if isinstance(actor, str) and actor:
        return actor[:200]
    return f"manage.py {request.command}"[:200] if request.command else ""


# Events recorded inside `together()`: written when it ends, under one lock of the chain head.
_pending: contextvars.ContextVar[list[Event] | None] = contextvars.ContextVar("audit_pending", default=None)


def record(
    *,
    actor=None,
    action: str,
    target=None,
    outcome: str = Outcome.SUCCESS,
    details: dict | None = None,
) -> Event:
    """Append one event. Must run inside the caller's transaction (it joins it, or opens its own).

    Inside `together()` the event is appended when that block ends (its id and hash are set then)."""
    request = current_request.get()
    target_type, target_id, target_repr = _target_fields(target)
    actor_obj = actor if getattr(actor, "is_authenticated", False) else None
    event = Event(
        actor=actor_obj,
        actor_repr=_actor_repr(actor, actor_obj, request),
        api_client=request.api_client,
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_repr=target_repr,
        outcome=outcome,
        ip_address=request.ip_address,
        user_agent=request.user_agent,
        details=json.loads(json.dumps(details or {}, default=str)),
    )
    pending = _pending.get()
    if pending is not None:
        pending.append(event)
        return event
    _append([event])
    return event


@contextlib.contextmanager
def together():
    """Record the events of one transaction under one lock of the chain head, in the order recorded,
    when the block ends without an error (an error discards them with the transaction they were for).
    Use it inside `transaction.atomic()`; a nested `together()` joins the outer one."""
    if _pending.get() is not None:
        yield
        return
    events: list[Event] = []
    token = _pending.set(events)
    try:
        yield
    finally:
        _pending.reset(token)
    if events:
        _append(events)


def _append(events: list[Event]) -> None:
    # No savepoint of its own: an event that cannot be written fails the caller's whole transaction.
    with transaction.atomic(savepoint=False):
        head, _ = ChainHead.objects.select_for_update().get_or_create(pk=1)
        last_id, last_hash = head.last_event_id, head.last_hash
        created_at = _now_milliseconds()
        for event in events:
            # Events are numbered here, under the head lock, so the id is part of the hashed content.
            last_id += 1
            event.id, event.created_at, event.prev_hash = last_id, created_at, last_hash
            event.hash = last_hash = event_hash(event)
        if len(events) == 1:
            events[0].save(force_insert=True)
        else:
            Event.objects.bulk_create(events)
        ChainHead.objects.filter(pk=1).update(last_event_id=last_id, last_hash=last_hash)


@dataclass(frozen=True)
class ChainProblem:
    event_id: int
    reason: str


RETENTION_ACTION = "audit.retention_applied"


def _anchors_by_event(*, from_id: int) -> dict[int, list[ChainAnchor]]:
    found: dict[int, list[ChainAnchor]] = {}
    for anchor in ChainAnchor.objects.filter(event_id__gte=from_id).order_by("event_id"):
        found.setdefault(anchor.event_id, []).append(anchor)
    return found


def _anchor_problem(*, anchor: ChainAnchor, event: Event, trust) -> str | None:
    if anchor.event_hash != event.hash:
        return f"it no longer matches the hash anchored by timestamp #{anchor.pk} (the chain was rewritten)"
    reason = anchors.token_problem(
        token_der=bytes(anchor.timestamp_token),
        digest=anchor_digest(event_hash=anchor.event_hash),
        not_before=event.created_at,
        trust=trust,
    )
    return f"anchor #{anchor.pk}: {reason}" if reason else None


def _exported_problem(*, exported: anchors.ExportedAnchor, event: Event, trust) -> str | None:
    if exported.event_hash != event.hash:
        return f"it does not match the hash anchored outside the database ({exported.source}): the chain was rewritten"
    reason = anchors.token_problem(
        token_der=exported.token,
        digest=anchor_digest(event_hash=exported.event_hash),
        not_before=event.created_at,
        trust=trust,
    )
    return f"the exported anchor {exported.source}: {reason}" if reason else None


def _unexported_anchor(exported: list[anchors.ExportedAnchor], from_id: int) -> ChainAnchor | None:
    """An anchor in the database that the outside copy does not have: added there, not by chain_anchor."""
    if not exported:
        return None
    known = {(a.anchor_id, a.event_id, a.event_hash) for a in exported}
    first = min(a.anchor_id for a in exported)
    for anchor in ChainAnchor.objects.filter(pk__gte=first, event_id__gte=from_id).order_by("pk"):
        if (anchor.pk, anchor.event_id, anchor.event_hash) not in known:
            return anchor
    return None


def chain_verify(
    *, batch_size: int = 5000, exported: list[anchors.ExportedAnchor] | None = None
) -> ChainProblem | None:
    """Walk the chain in id order; return the first broken link, or None when it is intact.

    The walk starts where retention last pruned (ChainPrune), and every RFC 3161 anchor over a kept event
    is checked against that event's hash and against the configured TSA (signature, time, imprint). A
    consistent rewrite of the tail re-anchored with fresh tokens still differs from `exported`, the
    anchors kept outside the database (anchors.anchors_load).
    """
    boundary = ChainPrune.objects.order_by("-first_kept_id").first()
    expected_prev = boundary.first_kept_prev_hash if boundary else GENESIS_HASH
    expected_id = boundary.first_kept_id if boundary else 1
    last_id = expected_id - 1
    boundary_confirmed = boundary is None
    in_database = _anchors_by_event(from_id=expected_id)
    outside: dict[int, list[anchors.ExportedAnchor]] = {}
    for item in exported or []:
        if item.event_id >= expected_id:  # older ones were pruned after a timestamped export
            outside.setdefault(item.event_id, []).append(item)
    trust = anchors.configured_tsa_certificates() if (in_database or outside) else []
    while True:
        batch = list(Event.objects.filter(id__gt=last_id).order_by("id")[:batch_size])
        if not batch:
            break
        for event in batch:
            if event.pk != expected_id:
                return ChainProblem(expected_id, f"event #{expected_id} is missing (next is #{event.pk})")
            if event.prev_hash != expected_prev:
                return ChainProblem(event.pk, "its link to the previous event is broken")
            if event_hash(event) != event.hash:
                return ChainProblem(event.pk, "its content does not match its hash (it was changed)")
            for anchor in in_database.pop(event.pk, []):
                reason = _anchor_problem(anchor=anchor, event=event, trust=trust)
                if reason:
                    return ChainProblem(event.pk, reason)
            for item in outside.pop(event.pk, []):
                reason = _exported_problem(exported=item, event=event, trust=trust)
                if reason:
                    return ChainProblem(event.pk, reason)
            if (
                not boundary_confirmed
                and event.action == RETENTION_ACTION
                and event.details.get("first_kept_id") == boundary.first_kept_id
                and event.details.get("first_kept_prev_hash") == boundary.first_kept_prev_hash
            ):
                boundary_confirmed = True
            expected_prev = event.hash
            expected_id += 1
            last_id = event.pk
    head = ChainHead.objects.filter(pk=1).first()
    if head and head.last_event_id != last_id:
        return ChainProblem(last_id + 1, f"events after #{last_id} up to #{head.last_event_id} are missing")
    if head and last_id and head.last_hash != expected_prev:
        return ChainProblem(last_id, "the chain head does not match the last event")
    if in_database or outside:
        event_id = min([*in_database, *outside])
        return ChainProblem(event_id, f"event #{event_id} was anchored by a timestamp but is missing")
    unexported = _unexported_anchor(list(exported or []), boundary.first_kept_id if boundary else 1)
    if unexported is not None:
        return ChainProblem(
            unexported.event_id,
            f"anchor #{unexported.pk} is not among the anchors exported outside the database (it was added later)",
        )
    if not boundary_confirmed:
        return ChainProblem(
            boundary.first_kept_id, "the retention boundary is not confirmed by an audit.retention_applied event"
        )
    return None


def anchor_digest(*, event_hash: str) -> bytes:
    """What an anchor timestamps: SHA-256 over the head hash as written (64 ASCII hex digits)."""
    return hashlib.sha256(event_hash.encode("ascii")).digest()


def timestamp_digest(*, digest: bytes) -> bytes:
    """An RFC 3161 timestamp token (DER ContentInfo) over a SHA-256 digest, from the configured TSA."""
    from pyhanko.sign.timestamps.common_utils import TimestampRequestError

    from core.tsa import timestamper

    try:
        token = asyncio.run(timestamper().async_timestamp(digest, "sha256"))
    except (TimeoutError, OSError, TimestampRequestError, aiohttp.ClientError) as exc:
        raise TimestampUnavailable(f"the timestamp service did not answer: {exc}") from exc
    return token.dump()


class TimestampUnavailable(Exception):
    """The TSA could not be reached or refused; nothing was anchored or pruned."""


def timestamp_token_imprint(*, token_der: bytes) -> tuple[str, bytes]:
    """(hash algorithm, hashed message) of an RFC 3161 token; ValueError when it is not one."""
    try:
        info = cms.ContentInfo.load(token_der)
        tst = info["content"]["encap_content_info"]["content"].parsed
        imprint = tst["message_imprint"]
        return imprint["hash_algorithm"]["algorithm"].native, imprint["hashed_message"].native
    except Exception as exc:  # asn1crypto raises many types for malformed input
        raise ValueError(str(exc)) from exc


def chain_anchor() -> ChainAnchor | None:
    """Timestamp the current chain head; idempotent while the head has not moved. None when empty."""
    head = ChainHead.objects.filter(pk=1).first()
    if head is None or head.last_event_id == 0:
        return None
    existing = ChainAnchor.objects.filter(event_id=head.last_event_id, event_hash=head.last_hash).first()
    if existing is not None:
        return existing
    token = timestamp_digest(digest=anchor_digest(event_hash=head.last_hash))
    with transaction.atomic():
        anchor = ChainAnchor.objects.create(
            event_id=head.last_event_id, event_hash=head.last_hash, timestamp_token=token
        )
        # Written out before the row commits: an anchor the outside copy lacks is one added later.
        anchors.anchor_export(
            anchor_id=anchor.pk,
            event_id=anchor.event_id,
            event_hash=anchor.event_hash,
            token=token,
            created_at=anchor.created_at,
        )
        record(
            action="audit.chain_anchored",
            target=("audit.chainanchor", anchor.pk),
            details={"event_id": head.last_event_id, "event_hash": head.last_hash},
        )
    return anchor


@dataclass(frozen=True)
class ExportResult:
    path: Path
    count: int
    first_id: int | None
    last_id: int | None
    sha256: str
    timestamp_path: Path | None


def events_export(*, events: models.QuerySet, out: Path, timestamp: bool = True) -> ExportResult:
    """Write events (in id order) as gzip-compressed JSON Lines: each line is the hashed content plus
    "hash", so the export can be re-verified on its own. With `timestamp`, `<out>.tst` holds an RFC 3161
    token (a CMS signature by the TSA's key) over the file's SHA-256."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    count, first_id, last_id = 0, None, None
    with open(partial, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for event in events.order_by("id").iterator(chunk_size=2000):
            line = event_content(event) | {"hash": event.hash}
            gz.write(json.dumps(line, ensure_ascii=False, separators=(",", ":"), default=str).encode() + b"\n")
            count += 1
            first_id = first_id or event.pk
            last_id = event.pk
    with open(partial, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256")
    token_path = None
    if timestamp:
        token_path = out.with_name(out.name + ".tst")
        token_path.write_bytes(timestamp_digest(digest=digest.digest()))
    with open(partial, "rb+") as fh:
        os.fsync(fh.fileno())
    partial.replace(out)
    return ExportResult(out, count, first_id, last_id, digest.hexdigest(), token_path)


def retention_apply(*, retention_days: int, export_dir: Path, now=None, storage=None) -> ChainPrune | None:
    """Export every event older than the retention period, timestamp the export, and only then delete.

    With `storage` (the configured document storage: files or S3), export_dir is only a working
    directory: the export and its timestamp token are stored under `audit-exports/` before any event is
    deleted, and the recorded export name is the stored one.

    Only a prefix of the chain is pruned (ids before the first event young enough to keep), so the rest
    still verifies from the recorded boundary. Refuses to prune a chain that does not verify.
    """
    retention_days = max(90, retention_days)
    cutoff = (now or timezone.now()) - timedelta(days=retention_days)
    first_young = Event.objects.filter(created_at__gte=cutoff).order_by("id").values_list("id", flat=True).first()
    boundary = ChainPrune.objects.order_by("-first_kept_id").first()
    old = Event.objects.filter(id__gte=boundary.first_kept_id if boundary else 1)
    old = old.filter(id__lt=first_young) if first_young is not None else old
    if not old.exists():
        return None
    problem = chain_verify()
    if problem is not None:
        raise ChainBroken(f"the audit chain is broken at event #{problem.event_id} ({problem.reason}); not pruning")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
    span = old.aggregate(first=models.Min("id"), last=models.Max("id"))
    out = Path(export_dir) / f"audit-{span['first']:012d}-{span['last']:012d}-{stamp}.jsonl.gz"
    result = events_export(events=old.filter(id__lte=span["last"]), out=out, timestamp=True)
    export_name = str(result.path)
    if storage is not None:
        export_name = _export_store(storage=storage, paths=[result.path, result.timestamp_path])
    with transaction.atomic():
        head = ChainHead.objects.select_for_update().get(pk=1)
        if first_young is not None:
            first_kept_id = first_young
            first_kept_prev_hash = Event.objects.values_list("prev_hash", flat=True).get(pk=first_young)
        else:
            first_kept_id, first_kept_prev_hash = head.last_event_id + 1, head.last_hash
        prune = ChainPrune.objects.create(
            first_kept_id=first_kept_id,
            first_kept_prev_hash=first_kept_prev_hash,
            pruned_count=result.count,
            export_name=export_name,
            export_sha256=result.sha256,
            export_timestamp_token=result.timestamp_path.read_bytes(),
        )
        record(
            action=RETENTION_ACTION,
            target=("audit.chainprune", prune.pk),
            details={
                "first_kept_id": first_kept_id,
                "first_kept_prev_hash": first_kept_prev_hash,
                "pruned": result.count,
                "export": result.path.name,
                "export_sha256": result.sha256,
                "retention_days": retention_days,
            },
        )
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # The append-only trigger lets DELETE through only inside this transaction.
                cursor.execute("SET LOCAL dsign.audit_retention = 'on'")
        Event.objects.filter(id__lt=first_kept_id)._raw_delete(Event.objects.db)
    return prune


AUDIT_EXPORT_PREFIX = "audit-exports/"


def _export_store(*, storage, paths: list[Path]) -> str:
    """Save the export files in the storage (same names); returns the stored name of the first."""
    from django.core.files import File

    names = []
    for path in paths:
        with open(path, "rb") as fh:
            names.append(storage.save(AUDIT_EXPORT_PREFIX + path.name, File(fh)))
    return names[0]


class ChainBroken(Exception):
    pass


def install_database_guards() -> None:
    """On PostgreSQL, refuse UPDATE and DELETE of audit events in the database itself.

    DELETE passes only in a transaction that set `dsign.audit_retention` (retention_apply, after the
    export); a database owner could drop the trigger anyway, which the hash chain and anchors reveal.
    """
    if connection.vendor != "postgresql":
        return
    table = Event._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE OR REPLACE FUNCTION dsign_audit_append_only() RETURNS trigger AS $$
            BEGIN
              IF TG_OP = 'DELETE' AND current_setting('dsign.audit_retention', true) = 'on' THEN
                RETURN OLD;
              END IF;
              RAISE EXCEPTION 'audit events are append-only';
            END;
            $$ LANGUAGE plpgsql;
            """
        )
        cursor.execute(f"DROP TRIGGER IF EXISTS dsign_audit_append_only ON {table}")
        cursor.execute(
            f"CREATE TRIGGER dsign_audit_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION dsign_audit_append_only()"
        )
