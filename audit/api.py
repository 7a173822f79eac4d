"""GET /api/v1/audit/events/: the event log for auditors and IT admins, filtered, cursor-paginated."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, generics, permissions, serializers
from rest_framework.pagination import CursorPagination

from core.roles import AUDIT_READERS, has_role

from . import selectors
from .models import Event, Outcome


class IsAuditorOrITAdmin(permissions.BasePermission):
    message = "Only auditors and IT admins may read the audit log."

    def has_permission(self, request, view) -> bool:
        return has_role(request.user, *AUDIT_READERS)


class EventOut(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_repr")

    class Meta:
        model = Event
        fields = [
            "id",
            "created_at",
            "actor",
            "actor_id",
            "action",
            "target_type",
            "target_id",
            "target_repr",
            "outcome",
            "ip_address",
            "user_agent",
            "details",
            "prev_hash",
            "hash",
        ]


class EventCursor(CursorPagination):
    ordering = "-id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


def _moment(name: str, value: str | None, *, end: bool):
    """A datetime, or a date meaning its whole day (so ?to=2026-11-30 includes the 30th)."""
    if not value:
        return None
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise exceptions.ValidationError({name: f"not a date or datetime: {value!r}"})
        moment = datetime.combine(day, time.min)
        if end:
            moment = moment + timedelta(days=1)
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


_FILTERS = [
    OpenApiParameter("from", OpenApiTypes.DATETIME, description="created at or after (date or datetime)"),
    OpenApiParameter("to", OpenApiTypes.DATETIME, description="created before (a date includes that day)"),
    OpenApiParameter("actor", str, description="username or user id"),
    OpenApiParameter("action", str, description="action prefix, e.g. `document.` or `certificates.revoked`"),
    OpenApiParameter("target_type", str, description="e.g. workflows.document"),
    OpenApiParameter("target_id", str),
    OpenApiParameter("outcome", str, enum=Outcome.values),
]


@extend_schema(parameters=_FILTERS, tags=["audit"])
class EventList(generics.ListAPIView):
    serializer_class = EventOut
    pagination_class = EventCursor
    permission_classes = [IsAuditorOrITAdmin]

    def get_queryset(self):
        params = self.request.query_params
        outcome = params.get("outcome") or None
        if outcome and outcome not in Outcome.values:
            raise exceptions.ValidationError({"outcome": f"one of {', '.join(Outcome.values)}"})
        return selectors.events_filter(
            start=_moment("from", params.get("from"), end=False),
            end=_moment("to", params.get("to"), end=True),
            actor=params.get("actor") or None,
            action_prefix=params.get("action") or None,
            target_type=params.get("target_type") or None,
            target_id=params.get("target_id") or None,
            outcome=outcome,
        )
