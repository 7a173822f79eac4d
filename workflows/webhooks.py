"""Workflow events sent to subscribed applications (see integrations.services.webhook_emit): only to
clients that may act for the document's requester.

Called by workflows.services inside the transaction of the state change; the event is written in that
transaction and delivered after it commits.
"""

from __future__ import annotations

from integrations.services import webhook_emit

from .models import Document


def emit(*, document: Document, event: str, payload: dict) -> None:
    webhook_emit(
        event=event,
        audience=document.requester,
        payload={
            "document": {
                "id": document.pk,
                "title": document.title,
                "status": document.status,
                "workflow": document.template.code,
                "requester": document.requester.username,
                "round": document.round,
            },
            **payload,
        },
    )
