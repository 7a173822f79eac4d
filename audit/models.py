"""The append-only, hash-chained event log."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.thai import format_thai_datetime


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("audit events are append-only")

    def delete(self):
        raise PermissionError("audit events are append-only")


class Outcome(models.TextChoices):
    SUCCESS = "success", _("success")
    FAILURE = "failure", _("failure")
    DENIED = "denied", _("denied")


class Event(models.Model):
    """One thing that happened. `hash` covers the canonical content and the previous event's hash."""

    created_at = models.DateTimeField(_("created at"), db_index=True)
    # No database constraint and no SET_NULL: deleting a user must not rewrite (and so break) the chain.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        verbose_name=_("actor"),
    )
    actor_repr = models.CharField(_("actor (as recorded)"), max_length=200, blank=True)
    # The application that acted for `actor` through the API (its name and key prefix); empty otherwise.
    api_client = models.CharField(_("application (API)"), max_length=200, blank=True, db_index=True)
    action = models.CharField(_("action"), max_length=80, db_index=True)
    target_type = models.CharField(_("target type"), max_length=80, blank=True, db_index=True)
    target_id = models.CharField(_("target number"), max_length=64, blank=True, db_index=True)
    target_repr = models.CharField(_("target (as recorded)"), max_length=300, blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS, db_index=True
    )
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("browser"), max_length=300, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    prev_hash = models.CharField(_("previous hash"), max_length=64)
    hash = models.CharField(_("hash"), max_length=64, unique=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-id"]
        indexes = [models.Index(fields=["target_type", "target_id", "id"])]

    def __str__(self) -> str:
        return f"เหตุการณ์ #{self.pk} {self.action} {self.target_type}:{self.target_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("audit events are append-only")


class ChainHead(models.Model):
    """A single row locked by every writer, so events are chained in one order even across processes."""

    last_event_id = models.BigIntegerField(_("last event"), default=0)
    last_hash = models.CharField(_("last hash"), max_length=64, default="0" * 64)

    class Meta:
        verbose_name = _("chain head")
        verbose_name_plural = _("chain heads")

    def __str__(self) -> str:
        return f"ปลายสายบันทึกที่เหตุการณ์ #{self.last_event_id}"


class ChainAnchor(models.Model):
    """An RFC 3161 timestamp over the chain head, so a rewrite of the whole tail is detectable.

    The token's message imprint is the SHA-256 of `event_hash` written as its 64 ASCII hex digits.
    """

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    event_id = models.BigIntegerField(_("event number"))
    event_hash = models.CharField(_("event hash"), max_length=64)
    timestamp_token = models.BinaryField(_("timestamp token"))

    class Meta:
        verbose_name = _("chain anchor")
        verbose_name_plural = _("chain anchors")

    def __str__(self) -> str:
        return f"จุดยึดที่เหตุการณ์ #{self.event_id} — {format_thai_datetime(self.created_at)}"


class ChainPrune(models.Model):
    """Where the chain starts after retention removed older events (they were exported first).

    `chain_verify` starts at `first_kept_id` expecting `first_kept_prev_hash`; the pruning itself is an
    event in the chain (`audit.retention_applied`), so this row cannot be forged without breaking it.
    """

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    first_kept_id = models.BigIntegerField(_("first kept event"))
    first_kept_prev_hash = models.CharField(_("hash before the first kept event"), max_length=64)
    pruned_count = models.BigIntegerField(_("events removed"))
    export_name = models.CharField(_("export file"), max_length=500)
    export_sha256 = models.CharField(_("SHA-256 of the export"), max_length=64)
    export_timestamp_token = models.BinaryField(_("timestamp of the export"))

    class Meta:
        verbose_name = _("chain pruning")
        verbose_name_plural = _("chain prunings")
        ordering = ["-first_kept_id"]

    def __str__(self) -> str:
        return f"ตัดเหตุการณ์ก่อน #{self.first_kept_id} ({self.pruned_count} รายการ)"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("prune records are append-only")
        super().save(*args, **kwargs)
