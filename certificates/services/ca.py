"""The internal CA: bootstrap, service identities and issuing users' certificates."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

from asn1crypto import pem
from django.conf import settings
from django.db import transaction
from django.utils import timezone

import audit
from core import hsm

from .. import pki, user_keys
from ..errors import CertificateError
from ..models import Certificate, CertificateAuthority, CertificateStatus, TrustRoot
from ..responders import crl_publish
from .agreement import agreement_email_send, certificate_accept
from .lifecycle import ca_officer_require

MIN_VALIDITY_DAYS = 365
CA_VALIDITY_DAYS = 20 * 365
ISSUING_VALIDITY_DAYS = 10 * 365
SERVICE_VALIDITY_DAYS = 5 * 365


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


def _user_certificate_create(
    *, user, label: str, algorithm: str, validity_days: int, profile: str, **fields
) -> Certificate:
    """Certify the user's key `label` (already in the users' token) with the issuing CA and record it."""
    issuing = CertificateAuthority.objects.get(kind=CertificateAuthority.Kind.ISSUING)
    public_key = user_keys.key_public(label=label)
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
        profile=profile,
    )
    return Certificate.objects.create(
        user=user,
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
        **fields,
    )


@transaction.atomic
def certificate_issue(
    *, user, actor, algorithm: str | None = None, validity_days: int | None = None, accept_now: bool = False
) -> Certificate:
    """Generate a key in the token for `user` and certify it with the internal issuing CA."""
    ca_officer_require(actor)
    validity_days = validity_days or settings.CERTIFICATE_VALIDITY_DAYS
    if validity_days < MIN_VALIDITY_DAYS:
        raise CertificateError(f"certificates are valid for at least {MIN_VALIDITY_DAYS} days")
    algorithm = algorithm or settings.SIGNING_KEY_ALGORITHM
    label = f"user-{user.pk}-{secrets.token_hex(6)}"
    user_keys.key_generate(label=label, algorithm=algorithm)
    record = _user_certificate_create(
        user=user,
        label=label,
        algorithm=algorithm,
        validity_days=validity_days,
        profile="signing",
        status=CertificateStatus.PENDING_ACCEPTANCE,
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


ENCRYPTION_KEY_ALGORITHM = "rsa2048"


@transaction.atomic
def encryption_certificate_issue(*, user, actor, validity_days: int | None = None) -> Certificate:
    """An encryption certificate for `user`: a new RSA key pair generated in the users' token for key
    transport only (the token lets it decrypt, never sign), certified with keyEncipherment.

    Issued on request, by the user for themself or by a CA officer for anyone (choice documented in the
    README): only people who receive encrypted copies need one. Active at once: it signs nothing, so
    there is no subscriber agreement on what a signature means; the earlier encryption certificate stays
    usable to open old copies until it expires (``encryption_certificates_of``).
    """
    from .lifecycle import _is_ca_officer_or_admin

    if actor is None or (actor.pk != user.pk and not _is_ca_officer_or_admin(actor)):
        raise CertificateError(
            "Only the holder or a CA officer can ask for an encryption certificate.", code="not_allowed", status=403
        )
    if not user.is_active:
        raise CertificateError("the user is not active")
    validity_days = validity_days or settings.CERTIFICATE_VALIDITY_DAYS
    label = f"user-{user.pk}-enc-{secrets.token_hex(6)}"
    user_keys.key_generate(label=label, algorithm=ENCRYPTION_KEY_ALGORITHM, usage="encrypt")
    record = _user_certificate_create(
        user=user,
        label=label,
        algorithm=ENCRYPTION_KEY_ALGORITHM,
        validity_days=validity_days,
        profile="encryption",
        purpose=Certificate.Purpose.ENCRYPTION,
        status=CertificateStatus.ACTIVE,
    )
    audit.record(
        actor=actor,
        action="certificates.encryption_issued",
        target=record,
        details={"user": user.username, "serial": record.serial_number, "not_after": record.not_after},
    )
    return record
