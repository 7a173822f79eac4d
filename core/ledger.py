"""Ledger rows (e-mails, webhook deliveries): which ones a sweeper should hand to a worker again."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone


def ledger_due_ids(model, *, statuses, stale_claim: timedelta, limit: int | None = None) -> list[int]:
    """Release claims a dead worker left behind (SENDING older than `stale_claim`), then the ids of rows that
    are PENDING or RETRYING and due. `statuses` is the model's status enum (PENDING, RETRYING, SENDING)."""
    now = timezone.now()
    model.objects.filter(status=statuses.SENDING, claimed_at__lt=now - stale_claim).update(
        status=statuses.RETRYING, claimed_at=None, next_attempt_at=now
    )
    due = model.objects.filter(status__in=[statuses.PENDING, statuses.RETRYING], next_attempt_at__lte=now)
    ids = due.values_list("pk", flat=True)
    return list(ids[:limit] if limit is not None else ids)
