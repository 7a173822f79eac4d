"""Writes of the integrations app: API keys, webhook events and their delivery, idempotency records.

Webhooks follow the outbox pattern: `webhook_emit` writes the event and one delivery per matching
subscription inside the caller's transaction (so a rolled-back decision sends nothing) and enqueues the
deliveries on commit. `webhook_deliver` claims a delivery with a conditional UPDATE, writes a ledger row,
makes the HTTP call and records the outcome; transient failures are retried with exponential backoff
through a one-off django-q2 Schedule, and the sweeper `integrations.tasks.resume_webhook_deliveries`
picks up anything whose task was lost.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import timedelta
from urllib.parse import urlsplit

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

import audit
from core.backoff import backoff
from core.errors import DomainError
from core.http import http_status_transient
from core.ledger import ledger_due_ids

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
from .targets import TargetRefused, target_check

logger = logging.getLogger(__name__)

KEY_PREFIX_LENGTH = 8
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
def api_client_create(*, name: str, scopes: list[str], users=(), org_units=(), actor=None) -> tuple[ApiClient, str]:
    """A new client and its key, acting only for `users` and members of `org_units`. The key is returned
    once and never stored."""
    unknown = set(scopes) - set(Scope.values)
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}")
    client = ApiClient(name=name, scopes=list(scopes))
    raw_key = api_client_rotate_key(client=client, actor=actor)
    client.allowed_users.set(users)
    client.allowed_org_units.set(org_units)
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


def client_may_act_for(*, client: ApiClient, user) -> bool:
    """Only users named on the client, or members of its org units (and units below them) who are not
    staff: a key never acts for an administrator it does not name."""
    if client.allowed_users.filter(pk=user.pk).exists():
        return True
    if user.is_staff or user.is_superuser or user.org_unit_id is None:
        return False
    units = {user.org_unit_id, *(unit.pk for unit in user.org_unit.ancestors())}
    return client.allowed_org_units.filter(pk__in=units).exists()


def api_key_lookup(*, raw_key: str) -> ApiClient | None:
    parts = raw_key.split("_")
    if len(parts) < 3 or parts[0] != "dsk" or len(parts[1]) != KEY_PREFIX_LENGTH:
        return None
    client = ApiClient.objects.filter(key_prefix=parts[1], active=True).first()
    if client is None or not hmac.compare_digest(client.key_hash, _key_hash(raw_key)):
        return None
    return client


# --- webhooks ----------------------------------------------------------------------------------------


def _webhook_key(secret: str) -> bytes:
    # Standard Webhooks secrets are "whsec_" + base64 of the key; any other string is used as it is.
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except ValueError:
            pass
    return secret.encode()


def webhook_signature(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks `webhook-signature` header: "v1,<base64 HMAC-SHA256 of id.timestamp.body>"."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(_webhook_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def webhook_signature_verify(*, secret: str, headers: dict, body: bytes, tolerance: int = 300, now=None) -> bool:
    """What a receiver does: check one of the v1 signatures and that the timestamp is recent (replays)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id = lowered["webhook-id"]
        timestamp = int(lowered["webhook-timestamp"])
        offered = lowered["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    now = int(time.time() if now is None else now)
    if abs(now - timestamp) > tolerance:
        return False
    expected = webhook_signature(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body)
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)


def webhook_emit(*, event: str, payload: dict, audience) -> WebhookEvent | None:
    """Record an event and its deliveries in the caller's transaction; they are sent after it commits.

    `audience` is the user the event belongs to (a document's requester, a certificate's holder): only
    clients that may act for that user receive it, so no client learns of another's documents.
    """
    if event not in WebhookEventType.values:
        raise ValueError(f"unknown webhook event {event!r}")
    if audience is None:
        return None
    subscriptions = [
        s
        for s in WebhookSubscription.objects.filter(active=True, client__active=True).select_related("client")
        if event in (s.events or []) and client_may_act_for(client=s.client, user=audience)
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


def _post_pinned(*, url: str, address: str, body: bytes, headers: dict) -> int:
    """POST to `url` at the checked `address` (TLS still verifies the URL's host name); the status code.

    No proxy, no redirects, no retries: each attempt is one ledger row.
    """
    import urllib3

    parts = urlsplit(url)
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if parts.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address, port, server_hostname=host, assert_hostname=host, cert_reqs="CERT_REQUIRED", retries=False
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, port, retries=False)
    default_port = port == (443 if parts.scheme == "https" else 80)
    host_header = host if default_port else f"{host}:{port}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    with pool:
        response = pool.urlopen(
            "POST",
            path,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            timeout=urllib3.Timeout(total=DELIVERY_TIMEOUT_SECONDS),
        )
    return response.status


def webhook_deliver(*, delivery_id: int) -> str:
    """Send one delivery if it is due and not taken; returns its status afterwards. Safe to repeat."""
    import urllib3

    if not _claim(delivery_id):
        row = WebhookDelivery.objects.filter(pk=delivery_id).values_list("status", flat=True).first()
        return row or "missing"
    delivery = WebhookDelivery.objects.select_related("subscription", "event").get(pk=delivery_id)
    number = delivery.attempts + 1
    attempt = DeliveryAttempt.objects.create(delivery=delivery, number=number)
    body = webhook_body(delivery=delivery)
    msg_id, timestamp = str(delivery.event.event_id), int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "dsign-webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_signature(
            secret=delivery.subscription.secret, msg_id=msg_id, timestamp=timestamp, body=body
        ),
        "X-Dsign-Event": delivery.event.event,
        "X-Dsign-Delivery-Attempt": str(number),
    }
    status_code = None
    try:
        addresses = target_check(url=delivery.subscription.url)
    except TargetRefused as exc:
        # Refused before any connection: nothing about the internal network reaches the delivery log.
        return _delivery_record(
            delivery=delivery,
            attempt=attempt,
            outcome=DeliveryAttempt.Outcome.PERMANENT,
            error=str(exc),
            status_code=None,
        )
    try:
        status_code = _post_pinned(url=delivery.subscription.url, address=addresses[0], body=body, headers=headers)
        if 200 <= status_code < 300:
            outcome, error = DeliveryAttempt.Outcome.SUCCESS, ""
        elif http_status_transient(status_code):
            outcome, error = DeliveryAttempt.Outcome.TRANSIENT, f"the receiver answered HTTP {status_code}"
        else:
            # The receiver refuses the request itself (bad URL, auth); sending it again cannot help.
            outcome, error = DeliveryAttempt.Outcome.PERMANENT, f"the receiver answered HTTP {status_code}"
    except (urllib3.exceptions.HTTPError, OSError) as exc:
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
    return ledger_due_ids(WebhookDelivery, statuses=DeliveryStatus, stale_claim=STALE_CLAIM)


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
