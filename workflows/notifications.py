"""E-mail about documents, branded with the organisation's name and logo.

Sent after commit; a failure is logged and never loses state (the in-app notification is already stored).
The organisation's name is `ORGANIZATION_NAME` (falling back to `CA_ORGANIZATION`); its logo is the PNG
or JPEG file named by `ORGANIZATION_LOGO`, attached inline when it exists.
"""

from __future__ import annotations

import logging
from email.mime.image import MIMEImage
from html import escape
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from accounts.models import User

logger = logging.getLogger(__name__)

LOGO_CID = "dsign-logo"


def organization_name() -> str:
    return getattr(settings, "ORGANIZATION_NAME", "") or getattr(settings, "CA_ORGANIZATION", "") or "dsign"


def organization_logo() -> tuple[bytes, str] | None:
    path = getattr(settings, "ORGANIZATION_LOGO", "")
    if not path:
        return None
    file = Path(path)
    subtype = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg"}.get(file.suffix.lower())
    if subtype is None or not file.is_file():
        return None
    return file.read_bytes(), subtype


def notification_email_build(*, user: User, subject: str, document_id: int | None) -> EmailMultiAlternatives:
    org = organization_name()
    link = f"{settings.BASE_URL}/documents/{document_id}/" if document_id else settings.BASE_URL
    text = f"{org}\n\nเรียน {user.full_name_th}\n\n{subject}\n\n{link}\n"
    logo = organization_logo()
    logo_html = f'<img src="cid:{LOGO_CID}" alt="" style="max-height:64px"><br>' if logo else ""
    html = (
        f'<div style="font-family:Sarabun,Tahoma,sans-serif">{logo_html}<strong>{escape(org)}</strong>'
        f"<p>เรียน {escape(user.full_name_th)}</p><p>{escape(subject)}</p>"
        f'<p><a href="{escape(link)}">{escape(link)}</a></p></div>'
    )
    message = EmailMultiAlternatives(subject=f"[{org}] {subject}"[:200], body=text, from_email=None, to=[user.email])
    message.attach_alternative(html, "text/html")
    if logo:
        data, subtype = logo
        image = MIMEImage(data, _subtype=subtype)
        image.add_header("Content-ID", f"<{LOGO_CID}>")
        image.add_header("Content-Disposition", "inline", filename=f"logo.{subtype}")
        message.mixed_subtype = "related"
        message.attach(image)
    return message


def notification_email_send(*, user_id: int, subject: str, document_id: int | None, kind: str = "") -> None:
    user = User.objects.filter(pk=user_id).first()
    if user is None or not user.email:
        return
    try:
        notification_email_build(user=user, subject=subject, document_id=document_id).send()
    except Exception:
        logger.exception("notification e-mail (%s) to %s failed", kind, user.email)
