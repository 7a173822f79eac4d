"""Operational state of the installation itself (not of documents): which workers are alive."""

from django.db import models


class WorkerHeartbeat(models.Model):
    """A django-q2 worker that ran the heartbeat task; /readyz wants one seen recently."""

    worker = models.CharField(max_length=200, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.worker} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"
