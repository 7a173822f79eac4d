"""Reads about certificates that other apps rely on (signing asks here for what it needs to sign)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from asn1crypto import pem, x509
from django.db.models import Exists, Q, QuerySet
from django.utils import timezone

from core.roles import AUDIT_READERS, CERTIFICATE_MANAGERS, has_role

from .models import Certificate, CertificateAuthority, CertificateStatus, TrustRoot


class CertificateNotUsable(Exception):
    """The certificate cannot sign now; the message says why in words a clerk understands."""


@dataclass(frozen=True)
class SigningCredentials:
    key_label: str
    certificate: x509.Certificate
    chain: list[x509.Certificate]


def chain_from_pem(text: str) -> list[x509.Certificate]:
    return [x509.Certificate.load(der) for _, _, der in pem.unarmor(text.encode(), multiple=True)] if text else []


def signing_credentials_get(*, certificate_id: int) -> SigningCredentials:
    cert = Certificate.objects.filter(pk=certificate_id).first()
    if cert is None or cert.certificate_der is None:
        raise CertificateNotUsable("The signer has no issued certificate.")
    if cert.purpose != Certificate.Purpose.SIGNING:
        raise CertificateNotUsable("This certificate is for encryption; it never signs.")
    certificate_refusal(cert)
    return SigningCredentials(
        key_label=cert.key_label, certificate=cert.certificate, chain=chain_from_pem(cert.chain_pem)
    )


def certificate_refusal(row, *, prefix: str = "") -> None:
    """CertificateNotUsable unless the certificate can sign now; `row` has its `status`, `not_after`
    (and `issued`) as attributes, named with `prefix` (see certificate_state_annotations)."""
    if prefix and not getattr(row, f"{prefix}issued"):
        raise CertificateNotUsable("The signer has no issued certificate.")
    status, not_after = getattr(row, f"{prefix}status"), getattr(row, f"{prefix}not_after")
    if status == CertificateStatus.REVOKED:
        raise CertificateNotUsable("The signer's certificate has been revoked; it can no longer sign.")
    if status == CertificateStatus.PENDING_ACCEPTANCE:
        raise CertificateNotUsable("The signer has not yet accepted the subscriber agreement for the certificate.")
    if not_after and not_after <= timezone.now():
        raise CertificateNotUsable("The signer's certificate has expired.")
    if status != CertificateStatus.ACTIVE:
        label = CertificateStatus(status).label if status in CertificateStatus.values else status
        raise CertificateNotUsable(f"The signer's certificate is not active ({label}).")


def certificate_state_annotations(field: str) -> dict:
    """Annotations that read, with the row that names a certificate by id in `field`, whether that
    certificate can sign now: `certificate_status`, `certificate_not_after`, `certificate_issued`
    (for certificate_refusal(row, prefix="certificate_")), and `certificate_key_label`,
    `certificate_serial` (for signing_credentials_cached), in the same statement."""
    from django.db.models import OuterRef, Subquery

    same = Certificate.objects.filter(pk=OuterRef(field))
    return {
        "certificate_status": Subquery(same.values("status")[:1]),
        "certificate_not_after": Subquery(same.values("not_after")[:1]),
        "certificate_issued": Exists(same.filter(certificate_der__isnull=False)),
        "certificate_key_label": Subquery(same.values("key_label")[:1]),
        "certificate_serial": Subquery(same.values("serial_number")[:1]),
    }


# What never changes in an issued certificate (its DER, key label, chain), parsed once per process and
# known by its id, key label and serial (an id alone can come back after a rollback on SQLite); whether
# it may sign is read from the database for every signature (certificate_refusal).
_credentials: dict[tuple, SigningCredentials] = {}


def signing_credentials_cached(*, certificate_id: int, key_label: str, serial: str) -> SigningCredentials:
    key = (certificate_id, key_label, serial)
    cached = _credentials.get(key)
    if cached is None:
        if len(_credentials) > 1024:
            _credentials.clear()
        cached = signing_credentials_get(certificate_id=certificate_id)
        if cached.key_label == key_label:
            _credentials[key] = cached
    return cached


def _usable(*, user, purpose: str) -> Certificate | None:
    return (
        Certificate.objects.filter(
            user=user, purpose=purpose, status=CertificateStatus.ACTIVE, not_after__gt=timezone.now()
        )
        .order_by("-not_after")
        .first()
    )


def certificate_for_signing(*, user) -> Certificate | None:
    """The user's certificate that would sign now (active and in date, for signing), newest first."""
    return _usable(user=user, purpose=Certificate.Purpose.SIGNING)


def certificate_for_encryption(*, user) -> Certificate | None:
    """The user's certificate that copies are encrypted to now (active, in date, for encryption)."""
    return _usable(user=user, purpose=Certificate.Purpose.ENCRYPTION)


def encryption_certificates_of(*, user) -> list[Certificate]:
    """Every encryption certificate of the user that can still open a copy (active or expired, never
    revoked): a copy encrypted last year must still open after the certificate was renewed."""
    return list(
        Certificate.objects.filter(user=user, purpose=Certificate.Purpose.ENCRYPTION)
        .exclude(status=CertificateStatus.REVOKED)
        .exclude(certificate_der=None)
        .order_by("-not_after")
    )


def certificate_for_signing_annotations(user_ref) -> dict:
    """`signing_certificate_id` and `signing_certificate_ial`: certificate_for_signing of the user named by
    `user_ref` (an id or an OuterRef), read inside another statement."""
    from django.db.models import Subquery

    mine = Certificate.objects.filter(
        user_id=user_ref,
        purpose=Certificate.Purpose.SIGNING,
        status=CertificateStatus.ACTIVE,
        not_after__gt=timezone.now(),
    )
    mine = mine.order_by("-not_after")
    return {
        "signing_certificate_id": Subquery(mine.values("pk")[:1]),
        "signing_certificate_ial": Subquery(mine.values("identity_proofing_level")[:1]),
    }


def trust_roots_list() -> list[x509.Certificate]:
    """The roots signatures are verified against: enabled and approved by a second CA officer."""
    return [root.certificate for root in TrustRoot.objects.filter(enabled=True, approved_at__isnull=False)]


def revocations_list() -> list[dict]:
    """Certificates the internal CA issued and revoked: `{"issuer": x509.Name, "serial": int, "revoked_at"}`.

    The verifier judges signatures by these certificates from this list (dsign's own records), not only
    from whatever revocation data a file carries.
    """
    issuers: dict[int, x509.Name] = {}
    found = []
    rows = Certificate.objects.filter(
        status=CertificateStatus.REVOKED, issued_by__isnull=False, revoked_at__isnull=False
    ).exclude(serial_number="")
    for issued_by_id, serial, revoked_at in rows.values_list("issued_by_id", "serial_number", "revoked_at"):
        if issued_by_id not in issuers:
            issuers[issued_by_id] = CertificateAuthority.objects.get(pk=issued_by_id).certificate.subject
        found.append({"issuer": issuers[issued_by_id], "serial": int(serial, 16), "revoked_at": revoked_at})
    return found


def authority_get(kind: str) -> CertificateAuthority | None:
    return CertificateAuthority.objects.filter(kind=kind).first()


# --- lists and details for the admin, the API and the holder ----------------------------------------


def user_manages_certificates(user) -> bool:
    """CA officers issue, revoke and import certificates for others (superusers hold every role)."""
    return has_role(user, *CERTIFICATE_MANAGERS)


def user_reads_all_certificates(user) -> bool:
    return has_role(user, *CERTIFICATE_MANAGERS, *AUDIT_READERS)


def certificates_visible(*, user) -> QuerySet[Certificate]:
    qs = Certificate.objects.select_related("user", "user__org_unit", "issued_by").order_by("-created_at")
    return qs if user_reads_all_certificates(user) else qs.filter(user=user)


def certificates_filter(
    *,
    queryset: QuerySet[Certificate],
    status: str | None = None,
    org_unit: str | None = None,
    expiring_within: int | None = None,
    now: datetime | None = None,
) -> QuerySet[Certificate]:
    """Narrow a certificate list; `org_unit` is a unit code or id, `expiring_within` a number of days."""
    if status:
        queryset = queryset.filter(status=status)
    if org_unit:
        unit = Q(user__org_unit__code=org_unit)
        if str(org_unit).isdigit():
            unit |= Q(user__org_unit_id=int(org_unit))
        queryset = queryset.filter(unit)
    if expiring_within is not None:
        now = now or timezone.now()
        queryset = queryset.filter(
            status__in=[CertificateStatus.ACTIVE, CertificateStatus.PENDING_ACCEPTANCE],
            not_after__gt=now,
            not_after__lte=now + timedelta(days=expiring_within),
        )
    return queryset


def certificates_of_units(org_unit_ids: list[int] | None) -> QuerySet[Certificate]:
    """Every certificate (of holders in these org units, when given), by holder then age."""
    certificates = Certificate.objects.select_related("user", "user__org_unit").order_by("user__username", "id")
    if org_unit_ids is not None:
        certificates = certificates.filter(user__org_unit_id__in=org_unit_ids)
    return certificates
