"""Reads of the outgoing e-mail ledger (the monthly report counts failures)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count

from .models import OutgoingEmail


def email_outcomes(*, start: datetime, end: datetime) -> dict[str, int]:
    """E-mails queued in [start, end), counted by status (sent, failed, retrying, pending, sending)."""
    rows = OutgoingEmail.objects.filter(created_at__gte=start, created_at__lt=end).values("status")
    return {row["status"]: row["n"] for row in rows.annotate(n=Count("id")).order_by()}


def emails_not_sent(*, start: datetime, end: datetime) -> list[tuple]:
    """E-mails queued in [start, end) that failed or are still waiting to retry, oldest first."""
    return list(
        OutgoingEmail.objects.filter(created_at__gte=start, created_at__lt=end, status__in=["failed", "retrying"])
        .order_by("id")
        .values_list("id", "created_at", "kind", "to", "subject", "status", "attempts", "last_error")
    )


def email_in_flight(*, ref: str) -> bool:
    """Whether an e-mail about `ref` is still on its way (queued, being sent or waiting to retry)."""
    return OutgoingEmail.objects.filter(ref=ref, status__in=["pending", "sending", "retrying"]).exists()
