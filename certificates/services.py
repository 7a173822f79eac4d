"""The internal CA and the lifecycle of users' certificates. Keys are generated in the token only."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path

from asn1crypto import pem
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

import audit
from branding.email import branded_email, has_logo
from branding.selectors import branding_get
from core import hsm, signer
from core.roles import CERTIFICATE_MANAGERS, has_role, role_holders_q

from . import pki, user_keys
from .errors import AgreementRefused, CertificateError, CertificateStateError
from .models import Certificate, CertificateAuthority, CertificateStatus, ExpiryNotice, TrustRoot
from .responders import crl_publish

MIN_VALIDITY_DAYS = 365
CA_VALIDITY_DAYS = 20 * 365
ISSUING_VALIDITY_DAYS = 10 * 365
SERVICE_VALIDITY_DAYS = 5 * 365
REVOCATION_REASONS = (
    "unspecified",
    "key_compromise",
    "affiliation_changed",
    "superseded",
    "cessation_of_operation",
    "certificate_hold",
)
# An "expired" notice is still sent this long after expiry (the task was down); older ones are history.
EXPIRED_NOTICE_GRACE = timedelta(days=30)


def pki_urls() -> dict[str, str]:
    base = settings.BASE_URL
    return {
        "crl_url": f"{base}/pki/crl/issuing.crl",
        "ocsp_url": f"{base}/pki/ocsp",
        "ca_issuers_url": f"{base}/pki/ca/issuing.crt",
        "root_crl_url": f"{base}/pki/crl/root.crl",
        "root_url": f"{base}/pki/root.crt",
    }


def pem_chain(certs) -> str:
    return "".join(pem.armor("CERTIFICATE", c.dump()).decode() for c in certs)


def tsa_certificate_publish() -> Path | None:
    """Write the internal TSA's certificate to INTERNAL_TSA_CERTIFICATE (outside the database), where
    audit anchors are checked against it unless TSA_CERTIFICATE names another TSA. Never overwritten:
    a database rewritten with a TSA of its own making does not change what anchors must chain to."""
    tsa = CertificateAuthority.objects.filter(kind=CertificateAuthority.Kind.TSA).first()
    if tsa is None:
        return None
    path = Path(settings.INTERNAL_TSA_CERTIFICATE)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pem.armor("CERTIFICATE", bytes(tsa.certificate_der)))
    return path


@transaction.atomic
def ca_bootstrap(*, actor=None) -> bool:
    """Create the root, the issuing CA, the OCSP responder and the TSA identities once. Idempotent."""
    if CertificateAuthority.objects.filter(kind=CertificateAuthority.Kind.ISSUING).exists():
        return False
    org = settings.CA_ORGANIZATION
    urls = pki_urls()

    def key(label: str):
        # A half-finished earlier bootstrap may have left the key; reuse it rather than fail.
        if hsm.key_exists(label=label):
            return hsm.key_public(label=label)
        return hsm.key_generate(label=label, algorithm="rsa3072")

    key("ca-root")
    root_cert = pki.build_root_ca(
        key_label="ca-root", common_name=f"{org} Root CA", organization=org, validity_days=CA_VALIDITY_DAYS
    )
    root = CertificateAuthority.objects.create(
        kind=CertificateAuthority.Kind.ROOT,
        common_name=f"{org} Root CA",
        key_label="ca-root",
        certificate_der=root_cert.dump(),
    )
    key("ca-issuing")
    issuing_cert = pki.build_issuing_ca(
        key_label="ca-issuing",
        common_name=f"{org} Issuing CA",
        organization=org,
        issuer_cert=root_cert,
        issuer_key_label="ca-root",
        validity_days=ISSUING_VALIDITY_DAYS,
        crl_url=urls["root_crl_url"],
        ca_issuers_url=urls["root_url"],
    )
    issuing = CertificateAuthority.objects.create(
        kind=CertificateAuthority.Kind.ISSUING,
        common_name=f"{org} Issuing CA",
        key_label="ca-issuing",
        certificate_der=issuing_cert.dump(),
        parent=root,
    )
    for kind, label, name, profile in (
        (CertificateAuthority.Kind.OCSP, "ca-ocsp", f"{org} OCSP Responder", "ocsp"),
        (CertificateAuthority.Kind.TSA, "ca-tsa", f"{org} Time-Stamping Authority", "tsa"),
    ):
        cert = _service_certificate(
            public_key=key(label), name=name, profile=profile, issuing_cert=issuing_cert, issuing_key="ca-issuing"
        )
        CertificateAuthority.objects.create(
            kind=kind, common_name=name, key_label=label, certificate_der=cert.dump(), parent=issuing
        )
    TrustRoot.objects.get_or_create(
        certificate_der=root_cert.dump(),
        defaults={"name": f"{org} Root CA", "source": TrustRoot.Source.INTERNAL, "approved_at": timezone.now()},
    )
    audit.record(actor=actor, action="certificates.ca_created", target=issuing, details={"root": root.common_name})
    crl_publish(authority=root)
    crl_publish(authority=issuing)
    return True


def _service_certificate(*, public_key, name: str, profile: str, issuing_cert, issuing_key: str):
    """The certificate of the OCSP responder or the TSA, from the issuing CA."""
    urls = pki_urls()
    now = timezone.now()
    return pki.build_end_entity(
        public_key=public_key,
        subject={"common_name": name, "organization": settings.CA_ORGANIZATION, "country": "TH"},
        issuer_cert=issuing_cert,
        issuer_key_label=issuing_key,
        serial_number=pki.record_serial(),
        not_before=now - timedelta(minutes=5),
        not_after=now + timedelta(days=SERVICE_VALIDITY_DAYS),
        crl_url=urls["crl_url"],
        ocsp_url=urls["ocsp_url"],
        ca_issuers_url=urls["ca_issuers_url"],
        profile=profile,
    )


@transaction.atomic
def service_identities_rekey(*, actor=None) -> list[str]:
    """New keys (in the services' token) and certificates for the OCSP responder and the TSA.

    Used by ``hsm_split``: their old keys sat in the single token and cannot leave it (never
    extractable). Responses and timestamps signed before stay valid: their certificates are kept.
    """
    issuing = CertificateAuthority.objects.get(kind=CertificateAuthority.Kind.ISSUING)
    renewed = []
    for authority in CertificateAuthority.objects.filter(
        kind__in=[CertificateAuthority.Kind.OCSP, CertificateAuthority.Kind.TSA]
    ):
        public_key = (
            hsm.key_public(label=authority.key_label)
            if hsm.key_exists(label=authority.key_label)
            else hsm.key_generate(label=authority.key_label, algorithm="rsa3072")
        )
        if pki.certificate_matches_key(authority.certificate, public_key):
            continue
        profile = "ocsp" if authority.kind == CertificateAuthority.Kind.OCSP else "tsa"
        cert = _service_certificate(
            public_key=public_key,
            name=authority.common_name,
            profile=profile,
            issuing_cert=issuing.certificate,
            issuing_key=issuing.key_label,
        )
        CertificateAuthority.objects.filter(pk=authority.pk).update(certificate_der=cert.dump())
        audit.record(actor=actor, action="certificates.service_rekeyed", target=authority, details={"kind": profile})
        renewed.append(authority.key_label)
    return renewed


def _user_subject(user) -> dict:
    return {
        "common_name": user.full_name_th or user.username,
        "given_name": user.first_name_th or user.first_name,
        "surname": user.last_name_th or user.last_name,
        "email": user.email or None,
        "organizational_unit": str(user.org_unit) if user.org_unit_id else None,
        "organization": settings.CA_ORGANIZATION,
        "country": "TH",
    }


@transaction.atomic
def certificate_issue(
    *, user, actor, algorithm: str | None = None, validity_days: int | None = None, accept_now: bool = False
) -> Certificate:
    """Generate a key in the token for `user` and certify it with the internal issuing CA."""
    ca_officer_require(actor)
    validity_days = validity_days or settings.CERTIFICATE_VALIDITY_DAYS
    if validity_days < MIN_VALIDITY_DAYS:
        raise CertificateError(f"certificates are valid for at least {MIN_VALIDITY_DAYS} days")
    issuing = CertificateAuthority.objects.get(kind=CertificateAuthority.Kind.ISSUING)
    algorithm = algorithm or settings.SIGNING_KEY_ALGORITHM
    label = f"user-{user.pk}-{secrets.token_hex(6)}"
    public_key = user_keys.key_generate(label=label, algorithm=algorithm)
    now = timezone.now()
    serial = pki.record_serial()
    urls = pki_urls()
    cert = pki.build_end_entity(
        public_key=public_key,
        subject=_user_subject(user),
        issuer_cert=issuing.certificate,
        issuer_key_label=issuing.key_label,
        serial_number=serial,
        not_before=now - timedelta(minutes=5),
        not_after=now + timedelta(days=validity_days),
        crl_url=urls["crl_url"],
        ocsp_url=urls["ocsp_url"],
        ca_issuers_url=urls["ca_issuers_url"],
        profile="signing",
    )
    record = Certificate.objects.create(
        user=user,
        status=CertificateStatus.PENDING_ACCEPTANCE,
        source=Certificate.Source.INTERNAL,
        key_label=label,
        key_algorithm=algorithm,
        serial_number=format(serial, "x"),
        subject_cn=cert.subject.native.get("common_name", ""),
        issuer_cn=issuing.common_name,
        issued_by=issuing,
        certificate_der=cert.dump(),
        chain_pem=pem_chain([issuing.certificate]),
        not_before=cert["tbs_certificate"]["validity"]["not_before"].native,
        not_after=cert["tbs_certificate"]["validity"]["not_after"].native,
        agreement_token=secrets.token_urlsafe(32),
    )
    audit.record(
        actor=actor,
        action="certificates.issued",
        target=record,
        details={"user": user.username, "serial": record.serial_number, "not_after": record.not_after},
    )
    # The previous certificate of the user stops signing once the new one is accepted.
    if accept_now:
        certificate_accept(certificate=record, actor=user, token=record.agreement_token)
    else:
        transaction.on_commit(lambda: agreement_email_send(certificate_id=record.pk))
    return record


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
            user=user, status__in=[CertificateStatus.ACTIVE, CertificateStatus.PENDING_ACCEPTANCE]
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
    """E-mail the holder the link to the subscriber agreement. Runs after commit; a failure is audited."""
    cert = Certificate.objects.select_related("user").get(pk=certificate_id)
    if cert.status != CertificateStatus.PENDING_ACCEPTANCE or not cert.user.email:
        return False
    message = _branded_email(
        subject="dsign: กรุณายอมรับข้อตกลงการใช้ใบรับรอง / please accept the subscriber agreement",
        template="agreement",
        context={"certificate": cert, "user": cert.user, "link": agreement_link(cert)},
        to=[cert.user.email],
    )
    try:
        message.send()
    except Exception as exc:  # SMTP and socket errors of every kind: recorded, the officer can resend
        with transaction.atomic():
            audit.record(
                action="certificates.agreement_email_failed",
                target=cert,
                outcome="failure",
                details={"to": cert.user.email, "error": str(exc)[:500]},
            )
        return False
    with transaction.atomic():
        audit.record(action="certificates.agreement_email_sent", target=cert, details={"to": cert.user.email})
    return True


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
        .filter(user_id=cert.user_id, status=CertificateStatus.ACTIVE)
        .exclude(pk=cert.pk)
    )
    certificate_transition(cert, "accept", agreement_accepted_at=timezone.now())
    for old in previous:
        certificate_transition(old, "supersede", superseded_by=cert)
        audit.record(actor=actor, action="certificates.superseded", target=old, details={"by": cert.pk})
    audit.record(actor=actor, action="certificates.agreement_accepted", target=cert)
    return cert


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


# --- expiry ---------------------------------------------------------------------------------------


def certificates_expire(*, now: datetime | None = None) -> int:
    """Mark certificates past not_after as expired (daily task). Each row its own small transaction."""
    now = now or timezone.now()
    due = Certificate.objects.filter(
        status__in=[CertificateStatus.ACTIVE, CertificateStatus.PENDING_ACCEPTANCE], not_after__lte=now
    ).values_list("pk", flat=True)
    count = 0
    for pk in list(due):
        with transaction.atomic():
            cert = Certificate.objects.select_for_update().get(pk=pk)
            if cert.status not in _TRANSITIONS["expire"][0]:
                continue
            certificate_transition(cert, "expire")
            audit.record(action="certificates.expired", target=cert, details={"not_after": cert.not_after})
            count += 1
    return count


def _threshold_for(days_left: int, thresholds: list[int]) -> int | None:
    """The most urgent warning due: the smallest threshold not below the days left."""
    due = [t for t in thresholds if t >= days_left]
    return min(due) if due else None


def _officer_emails(*, exclude: str = "") -> list[str]:
    from accounts.models import User

    users = (
        User.objects.filter(is_active=True).filter(role_holders_q(*CERTIFICATE_MANAGERS)).distinct().exclude(email="")
    )
    return sorted({u.email for u in users if u.email != exclude})


@dataclass
class ExpiryRun:
    sent: list[tuple[int, int]] = field(default_factory=list)
    failed: list[tuple[int, int]] = field(default_factory=list)


def expiry_warnings_send(*, now: datetime | None = None, thresholds: list[int] | None = None) -> ExpiryRun:
    """E-mail the holder and the CA officers at each threshold (days before expiry), each exactly once.

    The ledger row is written and claimed before the e-mail goes out; a failure is recorded on it and
    the same warning is tried again on a later day while it is still the one due.
    """
    now = now or timezone.now()
    thresholds = sorted(set(settings.EXPIRY_WARNING_DAYS if thresholds is None else thresholds))
    run = ExpiryRun()
    if not thresholds:
        return run
    today = timezone.localdate(now)
    start_of_today = timezone.make_aware(datetime.combine(today, time.min), timezone.get_current_timezone())
    candidates = Certificate.objects.filter(
        status__in=[CertificateStatus.ACTIVE, CertificateStatus.PENDING_ACCEPTANCE, CertificateStatus.EXPIRED],
        not_after__lte=now + timedelta(days=max(thresholds) + 1),
        not_after__gt=now - EXPIRED_NOTICE_GRACE,
    ).select_related("user")
    for cert in candidates:
        days_left = (timezone.localdate(cert.not_after) - today).days
        threshold = _threshold_for(days_left, thresholds)
        if threshold is None:
            continue
        notice, _ = ExpiryNotice.objects.get_or_create(certificate=cert, days_before=threshold)
        claimed = (
            ExpiryNotice.objects.filter(pk=notice.pk, sent_at__isnull=True)
            .filter(Q(attempted_at__isnull=True) | Q(attempted_at__lt=start_of_today))
            .update(attempted_at=now, attempts=F("attempts") + 1)
        )
        if not claimed:
            continue
        ok = _expiry_email_send(cert=cert, notice=notice, days_left=days_left, now=now)
        (run.sent if ok else run.failed).append((cert.pk, threshold))
    return run


def _expiry_email_send(*, cert: Certificate, notice: ExpiryNotice, days_left: int, now: datetime) -> bool:
    holder = cert.user.email
    officers = _officer_emails(exclude=holder)
    to, bcc = ([holder], officers) if holder else (officers, [])
    if days_left > 0:
        subject = f"dsign: ใบรับรองของท่านจะหมดอายุในอีก {days_left} วัน / your certificate expires in {days_left} days"
    elif days_left == 0:
        subject = "dsign: ใบรับรองของท่านหมดอายุวันนี้ / your certificate expires today"
    else:
        subject = "dsign: ใบรับรองของท่านหมดอายุแล้ว / your certificate has expired"
    details = {"days_before": notice.days_before, "days_left": days_left, "to": to, "bcc": bcc}
    error = ""
    if not to:
        error = "nobody to tell: the holder and the CA officers have no e-mail address"
    else:
        message = _branded_email(
            subject=subject,
            template="expiry_warning",
            context={"certificate": cert, "user": cert.user, "days_left": days_left},
            to=to,
            bcc=bcc,
        )
        try:
            message.send()
        except Exception as exc:  # SMTP and socket errors of every kind: recorded and retried another day
            error = f"{type(exc).__name__}: {exc}"[:1000]
    with transaction.atomic():
        if error:
            ExpiryNotice.objects.filter(pk=notice.pk).update(error=error)
            audit.record(
                action="certificates.expiry_warning_failed",
                target=cert,
                outcome="failure",
                details={**details, "error": error},
            )
            return False
        ExpiryNotice.objects.filter(pk=notice.pk).update(sent_at=now, error="")
        audit.record(action="certificates.expiry_warning_sent", target=cert, details=details)
    return True
