"""Reminders and escalation of tiers that wait too long (run by the schedule)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

import audit

from ..models import AssignmentStatus, DocumentStatus, RouteTier, TierStatus
from .common import it_admins, notify


def reminders_send(*, now=None) -> dict[str, int]:
    """Remind the undecided signers of tiers past half their due time, and tell IT admins of overdue ones.

    Each tier is reminded once and escalated once: the mark is claimed by a conditional UPDATE, so two
    runs of the schedule at the same time do not both send.
    """
    now = now or timezone.now()
    counts = {"reminded": 0, "escalated": 0}
    running = RouteTier.objects.filter(
        status=TierStatus.ACTIVE,
        document__status=DocumentStatus.IN_PROGRESS,
        activated_at__isnull=False,
        due_at__isnull=False,
    ).select_related("document")
    for tier in running.filter(reminded_at__isnull=True):
        if now < tier.activated_at + (tier.due_at - tier.activated_at) / 2:
            continue
        with transaction.atomic():
            if not RouteTier.objects.filter(pk=tier.pk, reminded_at__isnull=True).update(reminded_at=now):
                continue
            waiting = list(tier.assignments.filter(status=AssignmentStatus.PENDING).select_related("signer"))
            for seat in waiting:
                notify(
                    user=seat.signer,
                    document=tier.document,
                    kind="reminder",
                    message=f"เตือน: เอกสารรอท่านลงนาม (ครบกำหนด {timezone.localtime(tier.due_at):%d/%m/%Y %H:%M}): "
                    f"{tier.document.title}",
                )
            audit.record(
                action="route.reminder_sent",
                target=tier.document,
                details={"round": tier.round, "tier": tier.order, "to": [s.signer.username for s in waiting]},
            )
        counts["reminded"] += 1
    admins = None
    for tier in running.filter(escalated_at__isnull=True, due_at__lte=now):
        with transaction.atomic():
            if not RouteTier.objects.filter(pk=tier.pk, escalated_at__isnull=True).update(escalated_at=now):
                continue
            admins = admins if admins is not None else it_admins()
            waiting = list(
                tier.assignments.filter(status=AssignmentStatus.PENDING).values_list("signer__username", flat=True)
            )
            for admin in admins:
                notify(
                    user=admin,
                    document=tier.document,
                    kind="escalation",
                    message=f"เกินกำหนด: {tier.document.title} — ขั้นที่ {tier.order} ยังรอ {', '.join(waiting)}",
                )
            audit.record(
                action="route.escalated",
                target=tier.document,
                details={
                    "round": tier.round,
                    "tier": tier.order,
                    "waiting": waiting,
                    "to": [a.username for a in admins],
                },
            )
        counts["escalated"] += 1
    return counts
