"""E-mail about documents, branded with the organisation's name and logo.

Queued in the outgoing e-mail ledger in the same transaction as the in-app notification and sent by a
worker after commit (mailer.services): a slow or failing SMTP server never holds up an approval.
Name and logo come from the branding set in admin (see branding.selectors).
"""

from __future__ import annotations

from html import escape

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from accounts.models import User
from branding.email import LOGO_CID, branded_email, has_logo
from branding.selectors import branding_get
from mailer.services import email_queue, subject_clean


def brand_name() -> str:
    return branding_get().name


def notification_email_build(*, user: User, subject: str, document_id: int | None) -> EmailMultiAlternatives:
    org = brand_name()
    subject = subject_clean(subject)
    link = f"{settings.BASE_URL}/documents/{document_id}/" if document_id else settings.BASE_URL
    text = f"{org}\n\nเรียน {user.full_name_th}\n\n{subject}\n\n{link}\n"
    logo_html = f'<img src="cid:{LOGO_CID}" alt="" style="max-height:64px"><br>' if has_logo() else ""
    html = (
        f'<div style="font-family:Sarabun,Tahoma,sans-serif">{logo_html}<strong>{escape(org)}</strong>'
        f"<p>เรียน {escape(user.full_name_th)}</p><p>{escape(subject)}</p>"
        f'<p><a href="{escape(link)}">{escape(link)}</a></p></div>'
    )
    return branded_email(subject=f"[{org}] {subject}", text=text, html=html, to=[user.email])


def notification_email_queue(*, user: User, subject: str, document_id: int | None, kind: str = "") -> None:
    if not user.email:
        return
    message = notification_email_build(user=user, subject=subject, document_id=document_id)
    email_queue(message=message, kind=f"workflow.{kind}" if kind else "workflow")
