"""The state machines of documents, tiers and assignments, each transition declared once.

Status fields are changed only through `apply` (one object) or `apply_bulk` (a queryset), which refuse a
transition from a state that does not allow it, with a reason a person can read.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import TransitionNotAllowed
from .models import AssignmentStatus as A
from .models import DocumentStatus as D
from .models import TierStatus as T


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    target: str
    refusal: str


def _t(sources, target, refusal) -> Transition:
    return Transition(frozenset(sources), target, refusal)


# Rows are created in these states; every later change goes through `apply` / `apply_bulk`.
DOCUMENT_INITIAL = D.IN_PROGRESS
TIER_INITIAL = T.PENDING
ASSIGNMENT_INITIAL = A.PENDING

DOCUMENT = {
    "complete": _t([D.IN_PROGRESS], D.COMPLETED, "only a document in progress can be completed"),
    "reject": _t([D.IN_PROGRESS], D.REJECTED, "the document is no longer in progress"),
    "return": _t([D.IN_PROGRESS], D.RETURNED, "the document is no longer in progress"),
    "resubmit": _t([D.RETURNED], D.IN_PROGRESS, "only a returned document can be resubmitted"),
    "recall": _t([D.IN_PROGRESS, D.RETURNED], D.RECALLED, "only a document still in progress can be recalled"),
    "cancel": _t([D.IN_PROGRESS, D.RETURNED], D.CANCELLED, "the document has already ended"),
}
TIER = {
    "activate": _t([T.PENDING], T.ACTIVE, "the tier is not waiting to start"),
    "complete": _t([T.ACTIVE], T.COMPLETED, "the tier is not active"),
    "close": _t([T.PENDING, T.ACTIVE], T.CLOSED, "the tier has already ended"),
}
ASSIGNMENT = {
    "approve": _t([A.PENDING], A.APPROVED, "this seat has already been decided"),
    "sign": _t([A.APPROVED], A.SIGNED, "this seat has not been approved"),
    "reject": _t([A.PENDING], A.REJECTED, "this seat has already been decided"),
    "skip": _t([A.PENDING], A.NOT_NEEDED, "this seat has already been decided"),
    "return": _t([A.PENDING], A.RETURNED, "this seat has already been decided"),
    # A route that ends also withdraws approvals whose signature is not in the file yet: it never will be.
    "cancel": _t([A.PENDING, A.APPROVED], A.CANCELLED, "this seat has already been decided"),
    # The signature of an approval failed for good: the seat waits for a new decision.
    "reopen": _t([A.APPROVED], A.PENDING, "only an approved seat whose signature failed can reopen"),
}


def apply(machine: dict[str, Transition], obj, name: str, **extra_fields) -> None:
    """Move one locked object along `name` and save the status (plus `extra_fields`)."""
    transition = machine[name]
    if obj.status not in transition.sources:
        raise TransitionNotAllowed(transition.refusal)
    obj.status = transition.target
    for field, value in extra_fields.items():
        setattr(obj, field, value)
    obj.save(update_fields=["status", *extra_fields])


def apply_bulk(machine: dict[str, Transition], queryset, name: str, **extra_fields) -> int:
    """Move every object of `queryset` that may take `name`; the others are left alone."""
    transition = machine[name]
    return queryset.filter(status__in=transition.sources).update(status=transition.target, **extra_fields)
