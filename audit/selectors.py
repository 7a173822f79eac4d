"""Reads of the event log: the filters shared by the admin, the auditors' API and the reports."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from .models import Event

# Event types are grouped by the app that records them: "<group>.<what happened>".
ACTION_GROUPS = {
    "document": "documents",
    "route": "routing",
    "assignment": "assignments",
    "delegation": "delegations",
    "signing": "signing",
    "certificates": "certificates",
    "accounts": "sign-in and MFA",
    "admin": "admin changes",
    "audit": "audit log",
    "api": "API clients",
}


def events_filter(
    *,
    events: QuerySet[Event] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    actor: str | None = None,
    action_prefix: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    outcome: str | None = None,
) -> QuerySet[Event]:
    """Events in [start, end) matching every given filter. `actor` is a username or a user id."""
    events = Event.objects.all() if events is None else events
    if start is not None:
        events = events.filter(created_at__gte=start)
    if end is not None:
        events = events.filter(created_at__lt=end)
    if actor:
        events = events.filter(actor_id=int(actor)) if actor.isdigit() else events.filter(actor_repr=actor)
    if action_prefix:
        events = events.filter(action__startswith=action_prefix)
    if target_type:
        events = events.filter(target_type=target_type)
    if target_id:
        events = events.filter(target_id=target_id)
    if outcome:
        events = events.filter(outcome=outcome)
    return events
