"""Writes of the integrations app: API keys, webhook events and their delivery, idempotency records.

Webhooks follow the outbox pattern: `webhook_emit` writes the event and one delivery per matching
subscription inside the caller's transaction (so a rolled-back decision sends nothing) and enqueues the
deliveries on commit. `webhook_deliver` claims a delivery with a conditional UPDATE, writes a ledger row,
makes the HTTP call and records the outcome; transient failures are retried with exponential backoff
through a one-off django-q2 Schedule, and the sweeper `integrations.tasks.resume_webhook_deliveries`
picks up anything whose task was lost.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

import audit
from core.backoff import backoff
from core.errors import DomainError
from core.http import http_status_transient

from .models import (
    ApiClient,
    DeliveryAttempt,
    DeliveryStatus,
    IdempotencyRecord,
    Scope,
    WebhookDelivery,
    WebhookEvent,
    WebhookEventType,
    WebhookSubscription,
)

logger = logging.getLogger(__name__)

KEY_PREFIX_LENGTH = 8
SIGNATURE_HEADER = "X-Dsign-Signature"
MAX_DELIVERY_ATTEMPTS = 8
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=6)
DELIVERY_TIMEOUT_SECONDS = 10
# A claim older than this belongs to a worker that died mid-call; the sweeper hands it out again.
STALE_CLAIM = timedelta(minutes=5)
IDEMPOTENCY_TTL = timedelta(hours=24)


# --- API keys ----------------------------------------------------------------------------------------


def _key_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


@transaction.atomic
def api_client_create(*, name: str, scopes: list[str], actor=None) -> tuple[ApiClient, str]:
    """A new client and its key. The key is returned once and never stored."""
    unknown = set(scopes) - set(Scope.values)
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}")
    client = ApiClient(name=name, scopes=list(scopes))
    raw_key = api_client_rotate_key(client=client, actor=actor)
    return client, raw_key


@transaction.atomic
def api_client_rotate_key(*, client: ApiClient, actor=None) -> str:
    """Give the client a fresh key (the old one stops working at once); returns the new key."""
    prefix = secrets.token_hex(KEY_PREFIX_LENGTH // 2)
    raw_key = f"dsk_{prefix}_{secrets.token_urlsafe(32)}"
    client.key_prefix = prefix
    client.key_hash = _key_hash(raw_key)
    client.save()
    audit.record(actor=actor, action="api_client.key_issued", target=client, details={"prefix": prefix})
    return raw_key


def api_key_lookup(*, raw_key: str) -> ApiClient | None:
    parts = raw_key.split("_")
    if len(parts) < 3 or parts[0] != "dsk" or len(parts[1]) != KEY_PREFIX_LENGTH:
        return None
    client = ApiClient.objects.filter(key_prefix=parts[1], active=True).first()
    if client is None or not hmac.compare_digest(client.key_hash, _key_hash(raw_key)):
        return None
    return client


# --- webhooks ----------------------------------------------------------------------------------------


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Dsign-Signature` header: HMAC-SHA256 over `<timestamp>.<body>`, like Stripe's scheme."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def webhook_signature_verify(*, secret: str, header: str, body: bytes, tolerance: int = 300, now=None) -> bool:
    """What a receiver does: check the MAC and that the timestamp is recent (replay protection)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    now = int(time.time() if now is None else now)
    if abs(now - timestamp) > tolerance:
        return False
    expected = webhook_signature(secret=secret, timestamp=timestamp, body=body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


def webhook_emit(*, event: str, payload: dict) -> WebhookEvent | None:
    """Record an event and its deliveries in the caller's transaction; they are sent after it commits."""
    if event not in WebhookEventType.values:
        raise ValueError(f"unknown webhook event {event!r}")
    subscriptions = [
        s for s in WebhookSubscription.objects.filter(active=True, client__active=True) if event in (s.events or [])
    ]
    if not subscriptions:
        return None
    payload = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    with transaction.atomic():
        occurrence = WebhookEvent.objects.create(event=event, payload=payload)
        deliveries = [
            WebhookDelivery.objects.create(subscription=s, event=occurrence, next_attempt_at=timezone.now())
            for s in subscriptions
        ]
    for delivery in deliveries:
        transaction.on_commit(lambda pk=delivery.pk: webhook_delivery_enqueue(delivery_id=pk))
    return occurrence


def webhook_delivery_enqueue(*, delivery_id: int, at=None) -> None:
    """Run the delivery now (a queued task) or at `at` (a one-off schedule)."""
    if at is None:
        from django_q.tasks import async_task

        async_task("integrations.tasks.deliver_webhook", delivery_id, task_name=f"webhook-{delivery_id}-{time.time()}")
        return
    from django_q.models import Schedule

    Schedule.objects.create(
        name=f"webhook delivery {delivery_id} retry",
        func="integrations.tasks.deliver_webhook",
        args=str(delivery_id),
        schedule_type=Schedule.ONCE,
        repeats=-1,  # a ONCE schedule with negative repeats deletes itself after running
        next_run=at,
    )


def webhook_body(*, delivery: WebhookDelivery) -> bytes:
    occurrence = delivery.event
    document = {
        "id": str(occurrence.event_id),
        "event": occurrence.event,
        "created_at": occurrence.created_at.isoformat(),
        "data": occurrence.payload,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def _claim(delivery_id: int) -> bool:
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING], next_attempt_at__lte=now
    ).update(status=DeliveryStatus.SENDING, claimed_at=now)
    return claimed == 1


def webhook_deliver(*, delivery_id: int) -> str:
    """Send one delivery if it is due and not taken; returns its status afterwards. Safe to repeat."""
    import requests

    if not _claim(delivery_id):
        row = WebhookDelivery.objects.filter(pk=delivery_id).values_list("status", flat=True).first()
        return row or "missing"
    delivery = WebhookDelivery.objects.select_related("subscription", "event").get(pk=delivery_id)
    number = delivery.attempts + 1
    attempt = DeliveryAttempt.objects.create(delivery=delivery, number=number)
    body = webhook_body(delivery=delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "dsign-webhooks/1",
        "X-Dsign-Event": delivery.event.event,
        "X-Dsign-Event-Id": str(delivery.event.event_id),
        "X-Dsign-Delivery-Attempt": str(number),
        SIGNATURE_HEADER: webhook_signature(secret=delivery.subscription.secret, timestamp=int(time.time()), body=body),
    }
    status_code = None
    try:
        response = requests.post(
            delivery.subscription.url,
            data=body,
            headers=headers,
            timeout=DELIVERY_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
        status_code = response.status_code
        if 200 <= status_code < 300:
            outcome, error = DeliveryAttempt.Outcome.SUCCESS, ""
        elif http_status_transient(status_code):
            outcome, error = DeliveryAttempt.Outcome.TRANSIENT, f"the receiver answered HTTP {status_code}"
        else:
            # The receiver refuses the request itself (bad URL, auth); sending it again cannot help.
            outcome, error = DeliveryAttempt.Outcome.PERMANENT, f"the receiver answered HTTP {status_code}"
    except requests.RequestException as exc:
        outcome, error = DeliveryAttempt.Outcome.TRANSIENT, f"{type(exc).__name__}: {exc}"[:1000]
    return _delivery_record(delivery=delivery, attempt=attempt, outcome=outcome, error=error, status_code=status_code)


def _delivery_record(*, delivery, attempt, outcome: str, error: str, status_code: int | None) -> str:
    now = timezone.now()
    with transaction.atomic():
        DeliveryAttempt.objects.filter(pk=attempt.pk).update(
            finished_at=now, outcome=outcome, error=error, response_status=status_code
        )
        fields = {"attempts": attempt.number, "last_error": error, "claimed_at": None}
        retry_at = None
        if outcome == DeliveryAttempt.Outcome.SUCCESS:
            fields.update(status=DeliveryStatus.DELIVERED, delivered_at=now, next_attempt_at=None)
        elif outcome == DeliveryAttempt.Outcome.TRANSIENT and attempt.number < MAX_DELIVERY_ATTEMPTS:
            retry_at = now + backoff(attempt.number, base=BACKOFF_BASE, cap=BACKOFF_MAX)
            fields.update(status=DeliveryStatus.RETRYING, next_attempt_at=retry_at)
        else:
            fields.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
        WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(**fields)
        if retry_at is not None:
            transaction.on_commit(lambda: webhook_delivery_enqueue(delivery_id=delivery.pk, at=retry_at))
    if outcome != DeliveryAttempt.Outcome.SUCCESS:
        logger.warning("webhook delivery %s attempt %s: %s", delivery.pk, attempt.number, error)
    return fields["status"]


def webhook_deliveries_due() -> list[int]:
    """Deliveries whose task may have been lost: due ones, and claims abandoned by a dead worker."""
    now = timezone.now()
    WebhookDelivery.objects.filter(status=DeliveryStatus.SENDING, claimed_at__lt=now - STALE_CLAIM).update(
        status=DeliveryStatus.RETRYING, claimed_at=None, next_attempt_at=now
    )
    return list(
        WebhookDelivery.objects.filter(
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING], next_attempt_at__lte=now
        ).values_list("pk", flat=True)
    )


@transaction.atomic
def webhook_delivery_retry(*, delivery: WebhookDelivery, actor) -> None:
    """Admin action: send a failed delivery again (same event id, so the receiver can still dedupe)."""
    WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.FAILED).update(
        status=DeliveryStatus.RETRYING, next_attempt_at=timezone.now()
    )
    audit.record(
        actor=actor,
        action="webhook.retry_requested",
        target=delivery.subscription.client,
        details={"delivery": delivery.pk},
    )
    transaction.on_commit(lambda: webhook_delivery_enqueue(delivery_id=delivery.pk))


# --- idempotency -------------------------------------------------------------------------------------


class IdempotencyConflict(DomainError):
    """The key was used before for a different request (422) or that request is still running (409)."""

    code = "idempotency_conflict"

    def __init__(self, message: str, *, status: int):
        super().__init__(message, status=status)


def idempotency_begin(*, user, key: str, method: str, path: str, fingerprint: str) -> IdempotencyRecord:
    """Reserve the key, or return the completed record to replay; raises IdempotencyConflict otherwise."""
    now = timezone.now()
    IdempotencyRecord.objects.filter(user=user, key=key, expires_at__lte=now).delete()
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(
                user=user, key=key, method=method, path=path, fingerprint=fingerprint, expires_at=now + IDEMPOTENCY_TTL
            )
    except IntegrityError:
        pass
    record = IdempotencyRecord.objects.filter(user=user, key=key).first()
    if record is None:  # expired and purged between the two statements
        raise IdempotencyConflict("The request is being processed; retry in a moment.", status=409)
    if record.fingerprint != fingerprint:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request; use a new key.", status=422
        )
    if not record.completed:
        raise IdempotencyConflict("A request with this Idempotency-Key is still being processed.", status=409)
    return record


def idempotency_complete(*, record: IdempotencyRecord, status: int, body) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk).update(completed=True, response_status=status, response_body=body)


def idempotency_release(*, record: IdempotencyRecord) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk, completed=False).delete()


def idempotency_purge() -> int:
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
