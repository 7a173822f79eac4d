"""Application clients (API keys with scopes), webhook subscriptions and their delivery ledger,
and the responses kept for `Idempotency-Key` replays."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Scope(models.TextChoices):
    DOCUMENTS_READ = "documents:read", _("read documents the acting user may see")
    DOCUMENTS_CREATE = "documents:create", _("create documents on behalf of a user")
    WORKFLOWS_READ = "workflows:read", _("read workflow templates")
    VERIFY = "verify", _("verify signed PDFs")


class ApiClient(models.Model):
    """A system (e.g. an e-Saraban) that calls the API on behalf of its users.

    Only a SHA-256 of the key is kept: keys are 256-bit random strings, so a slow hash adds nothing. An
    application can never approve or sign; those need the signer's own credentials and MFA.
    """

    name = models.CharField(_("name"), max_length=200, unique=True)
    key_prefix = models.CharField(_("key prefix"), max_length=16, unique=True, editable=False)
    key_hash = models.CharField(_("key hash"), max_length=64, editable=False)
    scopes = models.JSONField(
        _("scopes"), default=list, blank=True, help_text=_("list of scopes, e.g. documents:create")
    )
    allowed_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        help_text=_("users it may act for (staff and administrators only when named here)"),
        verbose_name=_("allowed users"),
    )
    allowed_org_units = models.ManyToManyField(
        "accounts.OrgUnit",
        blank=True,
        related_name="+",
        help_text=_(
            "org units (and the units below them) whose members it may act for, staff excepted; "
            "nobody is allowed when both lists are empty"
        ),
        verbose_name=_("allowed org units"),
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API client")
        verbose_name_plural = _("API clients")

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
    client = models.ForeignKey(
        ApiClient, on_delete=models.CASCADE, related_name="webhooks", verbose_name=_("application")
    )
    url = models.URLField(
        _("URL"),
        max_length=500,
        help_text=_(
            "http(s) URL of the receiver; loopback, private and link-local addresses are refused unless "
            "the operator allows the host in WEBHOOK_ALLOWED_HOSTS"
        ),
    )
    secret = models.CharField(
        _("secret"),
        max_length=128,
        help_text=_("HMAC-SHA256 key shared with the receiver (Standard Webhooks: whsec_<base64>, or any string)"),
    )
    events = models.JSONField(_("events"), default=list, help_text=_("event types to send, e.g. document.completed"))
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")

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

    event_id = models.UUIDField(_("event number"), default=uuid.uuid4, unique=True, editable=False)
    event = models.CharField(_("event type"), max_length=64, choices=WebhookEventType.choices, db_index=True)
    payload = models.JSONField(_("content"), default=dict)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")

    def __str__(self) -> str:
        return f"{self.event} {self.event_id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("waiting to send")
    SENDING = "sending", _("sending")
    RETRYING = "retrying", _("waiting to retry")
    DELIVERED = "delivered", _("delivered")
    FAILED = "failed", _("failed")


class WebhookDelivery(models.Model):
    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("subscription")
    )
    event = models.ForeignKey(
        WebhookEvent, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("event")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True, db_index=True)
    claimed_at = models.DateTimeField(_("claimed by a worker at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event"], name="one_delivery_per_event_and_subscription")
        ]

    def __str__(self) -> str:
        return f"{self.event.event} → {self.subscription.url} ({self.get_status_display()})"


class DeliveryAttempt(models.Model):
    """Ledger row written before each HTTP call and completed after it."""

    class Outcome(models.TextChoices):
        STARTED = "started", _("started")
        SUCCESS = "success", _("success")
        TRANSIENT = "transient", _("transient error")
        PERMANENT = "permanent", _("permanent error")

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempts_log", verbose_name=_("delivery")
    )
    number = models.PositiveIntegerField(_("attempt"))
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, default=Outcome.STARTED)
    response_status = models.PositiveIntegerField(_("response status"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")

    def __str__(self) -> str:
        return f"{self.delivery} — ครั้งที่ {self.number}"


class IdempotencyRecord(models.Model):
    """The response to a POST made with an `Idempotency-Key`, replayed when the same request comes again."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    key = models.CharField(_("Idempotency-Key"), max_length=255)
    method = models.CharField(_("method"), max_length=8)
    path = models.CharField(_("path"), max_length=500)
    fingerprint = models.CharField(
        _("request fingerprint"), max_length=64, help_text=_("SHA-256 of the method, path and parsed body")
    )
    completed = models.BooleanField(_("completed"), default=False)
    response_status = models.PositiveIntegerField(_("response status"), null=True, blank=True)
    response_body = models.JSONField(_("response body"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"), db_index=True)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="one_idempotency_key_per_user")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.key})"
