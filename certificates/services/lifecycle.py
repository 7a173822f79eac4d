"""The certificate lifecycle: every status change goes through certificate_transition; revocation."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

import audit
from core.roles import CERTIFICATE_MANAGERS, has_role

from ..errors import CertificateError, CertificateStateError
from ..models import Certificate, CertificateStatus
from ..responders import crl_publish

REVOCATION_REASONS = (
    "unspecified",
    "key_compromise",
    "affiliation_changed",
    "superseded",
    "cessation_of_operation",
    "certificate_hold",
)


# --- lifecycle: every status change goes through certificate_transition ---------------------------------------


_TRANSITIONS: dict[str, tuple[frozenset[str], str, str]] = {
    # name: (allowed sources, target, message when refused)
    "import": (
        frozenset({CertificateStatus.AWAITING_ISSUANCE}),
        CertificateStatus.PENDING_ACCEPTANCE,
        "an issued certificate can only be imported for a request that is awaiting issuance",
    ),
    "accept": (
        frozenset({CertificateStatus.PENDING_ACCEPTANCE}),
        CertificateStatus.ACTIVE,
        "this certificate is not waiting for acceptance",
    ),
    "supersede": (
        frozenset({CertificateStatus.ACTIVE}),
        CertificateStatus.SUPERSEDED,
        "only an active certificate can be superseded",
    ),
    "expire": (
        frozenset({CertificateStatus.ACTIVE, CertificateStatus.PENDING_ACCEPTANCE}),
        CertificateStatus.EXPIRED,
        "only an active or pending certificate can expire",
    ),
    "revoke": (
        frozenset(
            {
                CertificateStatus.AWAITING_ISSUANCE,
                CertificateStatus.PENDING_ACCEPTANCE,
                CertificateStatus.ACTIVE,
                CertificateStatus.SUPERSEDED,
                CertificateStatus.EXPIRED,
            }
        ),
        CertificateStatus.REVOKED,
        "this certificate is already revoked",
    ),
}


def certificate_transition(cert: Certificate, name: str, **fields) -> None:
    sources, target, refusal = _TRANSITIONS[name]
    if cert.status not in sources:
        raise CertificateStateError(f"{refusal} (it is {cert.get_status_display()})")
    cert.status = target
    for name_, value in fields.items():
        setattr(cert, name_, value)
    cert.save(update_fields=["status", *fields])


def _is_ca_officer_or_admin(user) -> bool:
    return has_role(user, *CERTIFICATE_MANAGERS)


def ca_officer_require(actor, *, allow_holder_of: Certificate | None = None) -> None:
    """Issue, import, revoke and trust-root changes are CA-officer actions; `None` is the system itself
    (set-up commands, scheduled tasks). A holder may import what the external CA issued for their own CSR."""
    if actor is None:
        return
    if allow_holder_of is not None and allow_holder_of.user_id == getattr(actor, "pk", None):
        return
    if not (getattr(actor, "is_authenticated", False) and _is_ca_officer_or_admin(actor)):
        raise PermissionDenied(_("Only a CA officer may do this (IT administrators can view certificates only)."))


# --- revocation ----------------------------------------------------------------------------------


@transaction.atomic
def certificate_revoke(*, certificate: Certificate, actor, reason: str = "unspecified") -> Certificate:
    if reason not in REVOCATION_REASONS:
        raise CertificateError(f"unknown revocation reason {reason!r}; use one of {', '.join(REVOCATION_REASONS)}")
    ca_officer_require(actor)
    cert = Certificate.objects.select_for_update().get(pk=certificate.pk)
    certificate_transition(cert, "revoke", revoked_at=timezone.now(), revocation_reason=reason)
    audit.record(actor=actor, action="certificates.revoked", target=cert, details={"reason": reason})
    # The CRL is re-signed in the same transaction so it never lags the database; OCSP reads the row live.
    if cert.issued_by_id:
        crl_publish(authority=cert.issued_by)
    return cert
