"""What every part of the workflow engine shares: its refusals (from workflows.errors), the document
lock, notifications and webhooks sent after commit, and the checks of required text and of the
administrator role."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from core.roles import IT_ADMIN, has_role, role_holders_q

from ..errors import InvalidDocument, NotAllowed
from ..models import Document, Notification


def document_lock(document: Document) -> Document:
    return Document.objects.select_for_update().select_related("template").get(pk=document.pk)


def notify(*, user: User, document: Document | None, kind: str, message: str) -> None:
    """In-app notification now; the e-mail after commit (a rolled-back change sends nothing)."""
    Notification.objects.create(user=user, document=document, kind=kind, message=message[:500])
    if user.email:
        from ..notifications import notification_email_send

        user_id, document_id = user.pk, document.pk if document else None
        transaction.on_commit(
            lambda: notification_email_send(user_id=user_id, subject=message, document_id=document_id, kind=kind)
        )


def webhook_on_commit(document: Document, event: str, payload: dict) -> None:
    """Queue the webhook event for the document's subscribers (sent after commit)."""
    from .. import webhooks

    webhooks.emit(document=document, event=event, payload=payload)


def text_required(text: str | None, message: str) -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidDocument(message)
    return text


def admin_required(actor: User) -> None:
    if not has_role(actor, IT_ADMIN):
        raise NotAllowed(_("Only an IT administrator can do this."))


def it_admins() -> list[User]:
    """The active IT administrators: told of overdue tiers and of signatures that failed."""
    return list(User.objects.filter(role_holders_q(IT_ADMIN), is_active=True).distinct().order_by("id"))
