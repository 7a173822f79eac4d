"""The outgoing e-mail ledger: every message dsign sends is a row first, then a django-q2 task sends it."""

from django.db import models


class EmailStatus(models.TextChoices):
    PENDING = "pending", "pending"
    SENDING = "sending", "sending"
    RETRYING = "retrying", "waiting to retry"
    SENT = "sent", "sent"
    FAILED = "failed", "failed"


class OutgoingEmail(models.Model):
    kind = models.CharField(max_length=32, db_index=True)
    # What the e-mail is about ("certificates.expirynotice:12"): the sender's receiver of `email_attempted`
    # finds its own record by it, and the sender asks whether one is still on its way.
    ref = models.CharField(max_length=64, blank=True, db_index=True)
    status = models.CharField(max_length=16, choices=EmailStatus.choices, default=EmailStatus.PENDING, db_index=True)
    from_email = models.CharField(max_length=254)
    to = models.JSONField(default=list)
    bcc = models.JSONField(default=list)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    html = models.TextField(blank=True)
    # Attachments and inline parts (the logo): [{"filename"|"headers", "mimetype", "content" (base64)}].
    parts = models.JSONField(default=list, blank=True)
    mixed_subtype = models.CharField(max_length=16, default="mixed")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "outgoing e-mail"

    def __str__(self) -> str:
        return f"{self.kind} → {', '.join(self.to)} ({self.status})"
