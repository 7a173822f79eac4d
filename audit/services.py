"""Writing and verifying the event log.

Every state change in dsign calls `record` inside its own transaction, so the event and the change commit
or roll back together. Events are chained: each carries the hash of the previous one, and the chain head
row is locked while an event is appended, so concurrent writers produce one linear chain.
"""

import hashlib
import json
from dataclasses import dataclass

from django.db import connection, models, transaction
from django.utils import timezone

from .context import current_request
from .models import ChainHead, Event, Outcome

GENESIS_HASH = "0" * 64


def _canonical(event: Event) -> bytes:
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
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def event_hash(event: Event) -> str:
    return hashlib.sha256(_canonical(event)).hexdigest()


def _target_fields(target) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    if isinstance(target, models.Model):
        return target._meta.label_lower, str(target.pk), str(target)[:300]
    if isinstance(target, tuple):
        target_type, target_id = target
        return target_type, str(target_id), ""
    return type(target).__name__, "", str(target)[:300]


def record(
    *,
    actor=None,
    action: str,
    target=None,
    outcome: str = Outcome.SUCCESS,
    details: dict | None = None,
) -> Event:
    """Append one event. Must run inside the caller's transaction (it joins it, or opens its own)."""
    request = current_request.get()
    target_type, target_id, target_repr = _target_fields(target)
    actor_obj = actor if getattr(actor, "is_authenticated", False) else None
    with transaction.atomic():
        head, _ = ChainHead.objects.select_for_update().get_or_create(pk=1)
        next_id = head.last_event_id + 1
        # Events are numbered here, under the head lock, so the id is part of the hashed content.
        event = Event(
            id=next_id,
            created_at=timezone.now(),
            actor=actor_obj,
            actor_repr=str(getattr(actor_obj, "username", "") or (actor if isinstance(actor, str) else "")),
            action=action,
            target_type=target_type,
            target_id=target_id,
            target_repr=target_repr,
            outcome=outcome,
            ip_address=request.ip_address,
            user_agent=request.user_agent,
            details=json.loads(json.dumps(details or {}, default=str)),
            prev_hash=head.last_hash,
        )
        event.hash = event_hash(event)
        event.save(force_insert=True)
        ChainHead.objects.filter(pk=1).update(last_event_id=next_id, last_hash=event.hash)
    return event


@dataclass(frozen=True)
class ChainProblem:
    event_id: int
    reason: str


def chain_verify(*, batch_size: int = 5000) -> ChainProblem | None:
    """Walk the whole chain in id order; return the first broken link, or None when it is intact."""
    expected_prev = GENESIS_HASH
    expected_id = 1
    last_id = 0
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
            expected_prev = event.hash
            expected_id += 1
            last_id = event.pk
    head = ChainHead.objects.filter(pk=1).first()
    if head and head.last_event_id != last_id:
        return ChainProblem(last_id + 1, f"events after #{last_id} up to #{head.last_event_id} are missing")
    if head and last_id and head.last_hash != expected_prev:
        return ChainProblem(last_id, "the chain head does not match the last event")
    return None


def install_database_guards() -> None:
    """On PostgreSQL, refuse UPDATE and DELETE of audit events in the database itself."""
    if connection.vendor != "postgresql":
        return
    table = Event._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE OR REPLACE FUNCTION dsign_audit_append_only() RETURNS trigger AS $$
            BEGIN
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
