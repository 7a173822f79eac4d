"""Reads of documents, routes and timelines."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from accounts.models import User

from .models import Assignment, Document, DocumentVersion, RouteTier
from .services import visible_documents_q

PRIVILEGED_ROLES = ("auditor", "it_admin")


def can_see_all(user: User) -> bool:
    return user.is_superuser or user.groups.filter(name__in=PRIVILEGED_ROLES).exists()


def documents_visible_to(user: User) -> QuerySet[Document]:
    qs = Document.objects.all()
    if not can_see_all(user):
        qs = qs.filter(pk__in=Document.objects.filter(visible_documents_q(user)).values("pk"))
    return qs


def document_detail(*, user: User, document_id: int) -> Document | None:
    tiers = RouteTier.objects.order_by("round", "order").prefetch_related(
        Prefetch("assignments", queryset=Assignment.objects.select_related("signer", "decided_by").order_by("id"))
    )
    return (
        documents_visible_to(user)
        .select_related("requester", "template")
        .prefetch_related(Prefetch("tiers", queryset=tiers))
        .filter(pk=document_id)
        .first()
    )


def current_tiers(document: Document) -> list[RouteTier]:
    return [tier for tier in document.tiers.all() if tier.round == document.round]


def latest_version(document: Document) -> DocumentVersion:
    return document.versions.exclude(kind=DocumentVersion.Kind.ARCHIVE).order_by("-number").first()


def inbox(user: User) -> QuerySet[Assignment]:
    from .models import AssignmentStatus, TierStatus

    return (
        Assignment.objects.filter(signer=user, status=AssignmentStatus.PENDING, tier__status=TierStatus.ACTIVE)
        .select_related("document", "document__requester", "tier")
        .order_by("tier__activated_at", "id")
    )


def timeline(document: Document) -> list[dict]:
    """What happened to the document, oldest first, from its audit events."""
    from audit.models import Event

    events = Event.objects.filter(target_type="workflows.document", target_id=str(document.pk)).order_by("id")
    return [
        {
            "at": e.created_at,
            "action": e.action,
            "actor": e.actor_repr or None,
            "outcome": e.outcome,
            "details": e.details,
        }
        for e in events
    ]
