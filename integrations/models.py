"""Application clients (API keys with scopes), webhook subscriptions and their delivery ledger,
and the responses kept for `Idempotency-Key` replays."""

import uuid

from django.conf import settings
from django.db import models


class Scope(models.TextChoices):
    DOCUMENTS_READ = "documents:read", "read documents the acting user may see"
    DOCUMENTS_CREATE = "documents:create", "create documents on behalf of a user"
    WORKFLOWS_READ = "workflows:read", "read workflow templates"
    VERIFY = "verify", "verify signed PDFs"


class ApiClient(models.Model):
    """A system (e.g. an e-Saraban) that calls the API on behalf of its users.

    Only a SHA-256 of the key is kept: keys are 256-bit random strings, so a slow hash adds nothing. An
    application can never approve or sign; those need the signer's own credentials and MFA.
    """

    name = models.CharField(max_length=200, unique=True)
    key_prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list, blank=True, help_text="list of scopes, e.g. documents:create")
    allowed_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        help_text="users it may act for (staff and administrators only when named here)",
    )
    allowed_org_units = models.ManyToManyField(
        "accounts.OrgUnit",
        blank=True,
        related_name="+",
        help_text="org units (and the units below them) whose members it may act for, staff excepted; "
        "nobody is allowed when both lists are empty",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])


class WebhookEventType(models.TextChoices):
    DOCUMENT_COMPLETED = "document.completed", "document.completed"
    DOCUMENT_REJECTED = "document.rejected", "document.rejected"
    TIER_COMPLETED = "tier.completed", "tier.completed"
    SIGNATURE_FAILED = "signature.failed", "signature.failed"
    CERTIFICATE_EXPIRING = "certificate.expiring", "certificate.expiring"


class WebhookSubscription(models.Model):
    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(
        max_length=500,
        help_text="http(s) URL of the receiver; loopback, private and link-local addresses are refused unless "
        "the operator allows the host in WEBHOOK_ALLOWED_HOSTS",
    )
    secret = models.CharField(
        max_length=128,
        help_text="HMAC-SHA256 key shared with the receiver (Standard Webhooks: whsec_<base64>, or any string)",
    )
    events = models.JSONField(default=list, help_text="event types to send, e.g. document.completed")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.client.name} → {self.url}"

    def clean(self):
        from django.core.exceptions import ValidationError

        from .targets import TargetRefused, target_check

        try:
            target_check(url=self.url, resolve=False)
        except TargetRefused as exc:
            raise ValidationError({"url": str(exc)}) from exc


class WebhookEvent(models.Model):
    """One occurrence of an event; its `event_id` is sent with every delivery so receivers can dedupe."""

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event = models.CharField(max_length=64, choices=WebhookEventType.choices, db_index=True)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.event} {self.event_id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "pending"
    SENDING = "sending", "sending"
    RETRYING = "retrying", "waiting to retry"
    DELIVERED = "delivered", "delivered"
    FAILED = "failed", "failed"


class WebhookDelivery(models.Model):
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event"], name="one_delivery_per_event_and_subscription")
        ]

    def __str__(self) -> str:
        return f"{self.event.event} → {self.subscription.url} ({self.status})"


class DeliveryAttempt(models.Model):
    """Ledger row written before each HTTP call and completed after it."""

    class Outcome(models.TextChoices):
        STARTED = "started", "started"
        SUCCESS = "success", "success"
        TRANSIENT = "transient", "transient error"
        PERMANENT = "permanent", "permanent error"

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.STARTED)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)


class IdempotencyRecord(models.Model):
    """The response to a POST made with an `Idempotency-Key`, replayed when the same request comes again."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the method, path and parsed body")
    completed = models.BooleanField(default=False)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="one_idempotency_key_per_user")]
