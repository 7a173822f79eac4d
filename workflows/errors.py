"""What the workflow engine refuses, and why: each kind has its HTTP status and a stable machine code."""

from __future__ import annotations

from core.errors import DomainError

__all__ = [
    "AlreadyDecided",
    "InvalidDocument",
    "NotAllowed",
    "NotFound",
    "NotYourTurn",
    "StaleVersion",
    "TransitionNotAllowed",
    "WorkflowError",
]


class WorkflowError(DomainError):
    """A request the workflow refuses. `status` is the HTTP status the doors answer with."""

    status = 400
    code = "workflow_refused"


class TransitionNotAllowed(WorkflowError):
    """The object is not in a state that allows the transition (a race lost, or a route already ended)."""

    status = 409
    code = "transition_not_allowed"


class NotYourTurn(WorkflowError):
    status = 403
    code = "not_your_turn"


class AlreadyDecided(WorkflowError):
    status = 409
    code = "already_decided"


class NotFound(WorkflowError):
    status = 404
    code = "not_found"


class InvalidDocument(WorkflowError):
    status = 400
    code = "invalid_document"


class NotAllowed(WorkflowError):
    status = 403
    code = "not_allowed"


class StaleVersion(WorkflowError):
    """The version the signer was shown is no longer the document being signed."""

    status = 409
    code = "stale_version"
