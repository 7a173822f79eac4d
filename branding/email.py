"""Every e-mail dsign sends carries the organisation's name and, when there is one, its logo inline."""

from __future__ import annotations

from email.mime.image import MIMEImage

from django.core.mail import EmailMultiAlternatives

from .selectors import email_branding

LOGO_CID = "logo"


def branded_email(
    *, subject: str, text: str, html: str, to: list[str], bcc: list[str] | None = None
) -> EmailMultiAlternatives:
    """A text + HTML message; the HTML may show the logo with `<img src="cid:logo">`."""
    _, logo = email_branding()
    message = EmailMultiAlternatives(subject=subject[:200], body=text, to=to, bcc=bcc or [])
    message.attach_alternative(html, "text/html")
    if logo is not None:
        data, subtype = logo
        image = MIMEImage(data, _subtype=subtype)
        image.add_header("Content-ID", f"<{LOGO_CID}>")
        image.add_header("Content-Disposition", "inline", filename=f"logo.{subtype}")
        message.mixed_subtype = "related"
        message.attach(image)
    return message


def has_logo() -> bool:
    return email_branding()[1] is not None
