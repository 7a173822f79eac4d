"""The outgoing e-mail ledger: every message dsign sends is a row first, then a django-q2 task sends it."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class EmailStatus(models.TextChoices):
    PENDING = "pending", _("waiting to send")
    SENDING = "sending", _("sending")
    RETRYING = "retrying", _("waiting to retry")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")


class OutgoingEmail(models.Model):
    kind = models.CharField(_("kind"), max_length=32, db_index=True)
    # What the e-mail is about ("certificates.expirynotice:12"): the sender's receiver of `email_attempted`
    # finds its own record by it, and the sender asks whether one is still on its way.
    ref = models.CharField(_("about"), max_length=64, blank=True, db_index=True)
    status = models.CharField(
        _("status"), max_length=16, choices=EmailStatus.choices, default=EmailStatus.PENDING, db_index=True
    )
    from_email = models.CharField(_("from"), max_length=254)
    to = models.JSONField(_("to"), default=list)
    bcc = models.JSONField(_("blind copies (Bcc)"), default=list)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("text"))
    html = models.TextField(_("HTML text"), blank=True)
    # Attachments and inline parts (the logo): [{"filename"|"headers", "mimetype", "content" (base64)}].
    parts = models.JSONField(_("attachments"), default=list, blank=True)
    mixed_subtype = models.CharField(_("MIME subtype"), max_length=16, default="mixed")
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True, db_index=True)
    claimed_at = models.DateTimeField(_("claimed by a worker at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name_plural = _("outgoing e-mails")
        ordering = ["-id"]
        verbose_name = _("outgoing e-mail")

    def __str__(self) -> str:
        return f"{self.subject} → {', '.join(self.to)} ({self.get_status_display()})"

    @property
    def ref_id(self) -> int:
        """The primary key `ref` names ("app.model:pk")."""
        return int(self.ref.rpartition(":")[2])
