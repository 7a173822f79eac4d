"""The subscriber agreement: the e-mail, resending it and accepting it."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

import audit
from branding.email import branded_email, has_logo
from branding.selectors import branding_get
from mailer.services import email_queue

from ..errors import AgreementRefused, CertificateStateError
from ..mail import AGREEMENT_EMAIL_KIND, certificate_ref
from ..models import Certificate, CertificateStatus
from .lifecycle import certificate_transition

# --- the subscriber agreement --------------------------------------------------------------------


def _branded_email(*, subject: str, template: str, context: dict, to: list[str], bcc: list[str] | None = None):
    """An HTML e-mail from `emails/certificates/<template>`, with the organisation's name and logo."""
    context = {"organization": branding_get().name, "has_logo": has_logo(), **context}
    text = render_to_string(f"emails/certificates/{template}.txt", context)
    html = render_to_string(f"emails/certificates/{template}.html", context)
    return branded_email(subject=subject, text=text, html=html, to=to, bcc=bcc)


def agreement_link(certificate: Certificate) -> str:
    return settings.BASE_URL + reverse("certificate-agreement", args=[certificate.pk, certificate.agreement_token])


def agreement_email_send(*, certificate_id: int) -> bool:
    """Queue the e-mail with the link to the subscriber agreement to the holder (the mail ledger sends and
    retries it; its outcome is audited by certificates.mail). Runs after commit."""
    cert = Certificate.objects.select_related("user").get(pk=certificate_id)
    if cert.status != CertificateStatus.PENDING_ACCEPTANCE or not cert.user.email:
        return False
    message = _branded_email(
        subject="dsign: กรุณายอมรับข้อตกลงการใช้ใบรับรอง / please accept the subscriber agreement",
        template="agreement",
        context={"certificate": cert, "user": cert.user, "link": agreement_link(cert)},
        to=[cert.user.email],
    )
    return email_queue(message=message, kind=AGREEMENT_EMAIL_KIND, ref=certificate_ref(cert)) is not None


@transaction.atomic(durable=True)
def agreement_resend(*, certificate: Certificate, actor) -> None:
    """A CA officer sends the agreement link again (a new link; the old one stops working)."""
    cert = Certificate.objects.select_for_update().get(pk=certificate.pk)
    if cert.status != CertificateStatus.PENDING_ACCEPTANCE:
        raise CertificateStateError(
            f"the agreement is only sent for certificates pending acceptance (this one is {cert.get_status_display()})"
        )
    cert.agreement_token = secrets.token_urlsafe(32)
    cert.save(update_fields=["agreement_token"])
    audit.record(actor=actor, action="certificates.agreement_resent", target=cert)
    transaction.on_commit(lambda: agreement_email_send(certificate_id=cert.pk))


@transaction.atomic
def certificate_accept(*, certificate: Certificate, actor, token: str) -> Certificate:
    cert = Certificate.objects.select_for_update().get(pk=certificate.pk)
    if cert.status != CertificateStatus.PENDING_ACCEPTANCE:
        raise CertificateStateError(f"this certificate is not waiting for acceptance ({cert.get_status_display()})")
    if not token or not secrets.compare_digest(cert.agreement_token, token) or actor.pk != cert.user_id:
        raise AgreementRefused("this acceptance link is not valid for you")
    if cert.not_after and cert.not_after <= timezone.now():
        raise CertificateStateError("this certificate has expired; ask the CA officer for a new one")
    previous = list(
        Certificate.objects.select_for_update()
        .filter(user_id=cert.user_id, status=CertificateStatus.ACTIVE, purpose=cert.purpose)
        .exclude(pk=cert.pk)
    )
    certificate_transition(cert, "accept", agreement_accepted_at=timezone.now())
    for old in previous:
        certificate_transition(old, "supersede", superseded_by=cert)
        audit.record(actor=actor, action="certificates.superseded", target=old, details={"by": cert.pk})
    audit.record(actor=actor, action="certificates.agreement_accepted", target=cert)
    return cert
