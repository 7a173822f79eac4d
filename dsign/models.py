"""Operational state of the installation itself (not of documents): which workers are alive."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from core.thai import format_thai_datetime


class WorkerHeartbeat(models.Model):
    """A django-q2 worker that ran the heartbeat task; /readyz wants one seen recently."""

    worker = models.CharField(_("worker"), max_length=200, unique=True)
    seen_at = models.DateTimeField(_("last seen at"))

    class Meta:
        verbose_name = _("worker heartbeat")
        verbose_name_plural = _("worker heartbeats")

    def __str__(self) -> str:
        return f"{self.worker} — {format_thai_datetime(self.seen_at)}"
