"""Enrolment: certificates for users and org units, renewal, an external CA's CSR."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

import audit
from core import hsm, signer

from .. import pki, user_keys
from ..errors import CertificateStateError
from ..models import Certificate, CertificateStatus
from .ca import _user_subject, certificate_issue
from .lifecycle import ca_officer_require

# --- enrolment -----------------------------------------------------------------------------------


@dataclass
class EnrolmentResult:
    issued: list[Certificate] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def certificates_issue_for_users(
    *, users, actor, algorithm: str | None = None, validity_days: int | None = None, skip_holders: bool = True
) -> EnrolmentResult:
    """Issue one certificate per user, each in its own transaction, so one failure does not undo the others."""
    ca_officer_require(actor)
    result = EnrolmentResult()
    for user in users:
        if not user.is_active:
            result.skipped.append(user.username)
            continue
        has_one = Certificate.objects.filter(
            user=user,
            purpose=Certificate.Purpose.SIGNING,
            status__in=[CertificateStatus.ACTIVE, CertificateStatus.PENDING_ACCEPTANCE],
        ).exists()
        if skip_holders and has_one:
            result.skipped.append(user.username)
            continue
        try:
            result.issued.append(
                certificate_issue(user=user, actor=actor, algorithm=algorithm, validity_days=validity_days)
            )
        except (ValueError, hsm.HSMError, signer.SignerError) as exc:
            result.failed[user.username] = str(exc)
    return result


def certificates_issue_for_org_unit(
    *, org_unit, actor, include_sub_units: bool = True, algorithm: str | None = None, skip_holders: bool = True
) -> EnrolmentResult:
    """Issue for every active member of `org_unit` (and its sub-units) who has no usable certificate yet."""
    ca_officer_require(actor)
    from accounts.models import OrgUnit, User

    unit_ids, frontier = {org_unit.pk}, [org_unit.pk]
    while include_sub_units and frontier:
        frontier = [
            pk
            for pk in OrgUnit.objects.filter(parent_id__in=frontier).values_list("pk", flat=True)
            if pk not in unit_ids
        ]
        unit_ids.update(frontier)
    members = User.objects.filter(org_unit_id__in=unit_ids, is_active=True).order_by("username")
    with transaction.atomic():
        audit.record(
            actor=actor,
            action="certificates.enrolment_started",
            target=org_unit,
            details={"org_unit": org_unit.code, "members": members.count(), "include_sub_units": include_sub_units},
        )
    return certificates_issue_for_users(users=members, actor=actor, algorithm=algorithm, skip_holders=skip_holders)


@transaction.atomic(durable=True)
def certificate_renew(*, certificate: Certificate, actor, algorithm: str | None = None) -> Certificate:
    """A new key and certificate for the same holder; the old one is superseded when the new one is accepted."""
    ca_officer_require(actor)
    if certificate.status in (CertificateStatus.REVOKED, CertificateStatus.AWAITING_ISSUANCE):
        raise CertificateStateError(
            f"a {certificate.get_status_display()} certificate cannot be renewed; issue a new one instead"
        )
    algorithm = algorithm or certificate.key_algorithm or None
    if certificate.source == Certificate.Source.INTERNAL:
        new = certificate_issue(user=certificate.user, actor=actor, algorithm=algorithm)
    else:
        # Keys from an external CA are renewed the way they came: a fresh key in the token and a new CSR.
        new = _request_external(user=certificate.user, actor=actor, algorithm=algorithm)
    audit.record(
        actor=actor,
        action="certificates.renewed",
        target=new,
        details={"previous": certificate.pk, "previous_serial": certificate.serial_number},
    )
    return new


# --- an external CA: the CSR out (the issued certificate comes back through certificates.external) -----


def _request_external(*, user, actor, algorithm: str | None) -> Certificate:
    algorithm = algorithm or settings.SIGNING_KEY_ALGORITHM
    label = f"user-{user.pk}-{secrets.token_hex(6)}"
    public_key = user_keys.key_generate(label=label, algorithm=algorithm)
    request = pki.build_csr(
        public_key=public_key, key_label=label, subject=_user_subject(user), sign=user_keys.csr_sign
    )
    record = Certificate.objects.create(
        user=user,
        status=CertificateStatus.AWAITING_ISSUANCE,
        source=Certificate.Source.EXTERNAL,
        key_label=label,
        key_algorithm=algorithm,
        subject_cn=request["certification_request_info"]["subject"].native.get("common_name", ""),
        csr_pem=pki.csr_to_pem(request),
    )
    audit.record(
        actor=actor,
        action="certificates.csr_created",
        target=record,
        details={"user": user.username, "algorithm": algorithm},
    )
    return record


@transaction.atomic(durable=True)
def certificate_request_external(*, user, actor, algorithm: str | None = None) -> Certificate:
    """Generate a key in the token and keep a PKCS#10 request for a CA under the Thailand NRCA or AD CS."""
    ca_officer_require(actor)
    return _request_external(user=user, actor=actor, algorithm=algorithm)
