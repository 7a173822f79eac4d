"""E-mail notifications about documents (sent after commit; a failure is logged, never loses state)."""

import logging

from django.conf import settings
from django.core.mail import send_mail

from accounts.models import User

logger = logging.getLogger(__name__)


def notification_email_send(*, user_id: int, subject: str, document_id: int | None) -> None:
    user = User.objects.filter(pk=user_id).first()
    if user is None or not user.email:
        return
    link = f"{settings.BASE_URL}/documents/{document_id}/" if document_id else settings.BASE_URL
    try:
        send_mail(
            subject=f"dsign: {subject}"[:200],
            message=f"{subject}\n\n{link}\n",
            from_email=None,
            recipient_list=[user.email],
        )
    except Exception:
        logger.exception("notification e-mail to %s failed", user.email)
