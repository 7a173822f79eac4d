"""The internal CA and the lifecycle of users' certificates. Keys are generated in the token only."""

from __future__ import annotations

import secrets
from datetime import timedelta

from asn1crypto import pem
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

import audit
from signing import hsm

from . import pki
from .models import Certificate, CertificateAuthority, CertificateStatus, TrustRoot

MIN_VALIDITY_DAYS = 365
CA_VALIDITY_DAYS = 20 * 365
ISSUING_VALIDITY_DAYS = 10 * 365
SERVICE_VALIDITY_DAYS = 5 * 365
CRL_LIFETIME = timedelta(days=1)
REVOCATION_REASONS = (
    "unspecified",
    "key_compromise",
    "affiliation_changed",
    "superseded",
    "cessation_of_operation",
    "certificate_hold",
)


def pki_urls() -> dict[str, str]:
    base = settings.BASE_URL
    return {
        "crl_url": f"{base}/pki/crl/issuing.crl",
        "ocsp_url": f"{base}/pki/ocsp",
        "ca_issuers_url": f"{base}/pki/ca/issuing.crt",
        "root_crl_url": f"{base}/pki/crl/root.crl",
        "root_url": f"{base}/pki/root.crt",
    }


def _new_serial() -> int:
    return secrets.randbits(120) | (1 << 119)


def _as_pem(certs) -> str:
    return "".join(pem.armor("CERTIFICATE", c.dump()).decode() for c in certs)


@transaction.atomic
def ca_bootstrap(*, actor=None) -> bool:
    """Create the root, the issuing CA, the OCSP responder and the TSA identities once. Idempotent."""
    if CertificateAuthority.objects.filter(kind=CertificateAuthority.Kind.ISSUING).exists():
        return False
    org = settings.CA_ORGANIZATION
    urls = pki_urls()
    now = timezone.now()

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
        public_key = key(label)
        cert = pki.build_end_entity(
            public_key=public_key,
            subject={"common_name": name, "organization": org, "country": "TH"},
            issuer_cert=issuing_cert,
            issuer_key_label="ca-issuing",
            serial_number=_new_serial(),
            not_before=now - timedelta(minutes=5),
            not_after=now + timedelta(days=SERVICE_VALIDITY_DAYS),
            crl_url=urls["crl_url"],
            ocsp_url=urls["ocsp_url"],
            ca_issuers_url=urls["ca_issuers_url"],
            profile=profile,
        )
        CertificateAuthority.objects.create(
            kind=kind, common_name=name, key_label=label, certificate_der=cert.dump(), parent=issuing
        )
    TrustRoot.objects.get_or_create(
        certificate_der=root_cert.dump(),
        defaults={"name": f"{org} Root CA", "source": TrustRoot.Source.INTERNAL},
    )
    audit.record(actor=actor, action="certificates.ca_created", target=issuing, details={"root": root.common_name})
    crl_publish(authority=root)
    crl_publish(authority=issuing)
    return True


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
    validity_days = validity_days or settings.CERTIFICATE_VALIDITY_DAYS
    if validity_days < MIN_VALIDITY_DAYS:
        raise ValueError(f"certificates are valid for at least {MIN_VALIDITY_DAYS} days")
    issuing = CertificateAuthority.objects.get(kind=CertificateAuthority.Kind.ISSUING)
    algorithm = algorithm or settings.SIGNING_KEY_ALGORITHM
    label = f"user-{user.pk}-{secrets.token_hex(6)}"
    public_key = hsm.key_generate(label=label, algorithm=algorithm)
    now = timezone.now()
    serial = _new_serial()
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
        chain_pem=_as_pem([issuing.certificate]),
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


def agreement_email_send(*, certificate_id: int) -> None:
    cert = Certificate.objects.select_related("user").get(pk=certificate_id)
    if not cert.user.email:
        return
    link = settings.BASE_URL + reverse("certificate-agreement", args=[cert.pk, cert.agreement_token])
    send_mail(
        subject="dsign: กรุณายอมรับข้อตกลงการใช้ใบรับรอง / please accept the subscriber agreement",
        message=(
            f"เรียน {cert.user.full_name_th}\n\nมีการออกใบรับรองอิเล็กทรอนิกส์ให้ท่าน (serial {cert.serial_number}) "
            f"กรุณาอ่านและยอมรับข้อตกลงการใช้ใบรับรองที่\n{link}\n\n"
            f"A signing certificate was issued to you. Read and accept the subscriber agreement at\n{link}\n"
        ),
        from_email=None,
        recipient_list=[cert.user.email],
    )
    audit.record(action="certificates.agreement_email_sent", target=cert, details={"to": cert.user.email})


@transaction.atomic
def certificate_accept(*, certificate: Certificate, actor, token: str) -> Certificate:
    cert = Certificate.objects.select_for_update().get(pk=certificate.pk)
    if cert.status != CertificateStatus.PENDING_ACCEPTANCE:
        raise ValueError("this certificate is not waiting for acceptance")
    if not secrets.compare_digest(cert.agreement_token, token) or actor.pk != cert.user_id:
        raise PermissionError("this acceptance link is not valid for you")
    now = timezone.now()
    previous = list(
        Certificate.objects.select_for_update().filter(user_id=cert.user_id, status=CertificateStatus.ACTIVE)
    )
    cert.status = CertificateStatus.ACTIVE
    cert.agreement_accepted_at = now
    cert.save(update_fields=["status", "agreement_accepted_at"])
    for old in previous:
        old.status = CertificateStatus.SUPERSEDED
        old.superseded_by = cert
        old.save(update_fields=["status", "superseded_by"])
    audit.record(actor=actor, action="certificates.agreement_accepted", target=cert)
    return cert


@transaction.atomic
def certificate_revoke(*, certificate: Certificate, actor, reason: str = "unspecified") -> Certificate:
    if reason not in REVOCATION_REASONS:
        raise ValueError(f"unknown revocation reason {reason!r}; use one of {', '.join(REVOCATION_REASONS)}")
    cert = Certificate.objects.select_for_update().get(pk=certificate.pk)
    if cert.status == CertificateStatus.REVOKED:
        raise ValueError("this certificate is already revoked")
    cert.status = CertificateStatus.REVOKED
    cert.revoked_at = timezone.now()
    cert.revocation_reason = reason
    cert.save(update_fields=["status", "revoked_at", "revocation_reason"])
    audit.record(actor=actor, action="certificates.revoked", target=cert, details={"reason": reason})
    if cert.issued_by_id:
        crl_publish(authority=cert.issued_by)
    return cert


def _crl_build(*, ca: CertificateAuthority, now) -> bytes:
    if ca.kind == CertificateAuthority.Kind.ROOT:
        revoked = []
    else:
        revoked = [
            (int(c.serial_number, 16), c.revoked_at, c.revocation_reason or "unspecified")
            for c in Certificate.objects.filter(issued_by=ca, status=CertificateStatus.REVOKED)
        ]
    # The CRL number is the issue time in microseconds: increasing without a counter to write, so a
    # CRL can be made on a read-only request path (see crl_current).
    crl = pki.build_crl(
        issuer_cert=ca.certificate, issuer_key_label=ca.key_label, revoked=revoked,
        crl_number=int(now.timestamp() * 1_000_000), this_update=now, next_update=now + CRL_LIFETIME,
    )
    return crl.dump()


def crl_publish(*, authority: CertificateAuthority) -> bytes:
    """Sign a fresh CRL for `authority` with its key in the token and keep it."""
    now = timezone.now()
    data = _crl_build(ca=authority, now=now)
    CertificateAuthority.objects.filter(pk=authority.pk).update(
        crl_der=data, crl_next_update=now + CRL_LIFETIME, crl_number=int(now.timestamp() * 1_000_000)
    )
    return data


def crl_current(*, kind: str) -> bytes | None:
    """The kept CRL while it is fresh; otherwise a fresh one made without writing (requests stay read-only:
    a signing worker fetches CRLs from this app while it holds the database's write lock on SQLite)."""
    ca = CertificateAuthority.objects.filter(kind=kind).first()
    if ca is None:
        return None
    now = timezone.now()
    if ca.crl_der is None or ca.crl_next_update is None or ca.crl_next_update - timedelta(hours=1) <= now:
        return _crl_build(ca=ca, now=now)
    return bytes(ca.crl_der)


def crls_refresh() -> None:
    for ca in CertificateAuthority.objects.filter(kind__in=["root", "issuing"]):
        crl_publish(authority=ca)


def ocsp_respond(*, request_der: bytes) -> bytes:
    issuing = CertificateAuthority.objects.get(kind=CertificateAuthority.Kind.ISSUING)
    responder = CertificateAuthority.objects.get(kind=CertificateAuthority.Kind.OCSP)

    def status_for_serial(serial: int):
        cert = Certificate.objects.filter(issued_by=issuing, serial_number=format(serial, "x")).first()
        if cert is None:
            service = CertificateAuthority.objects.filter(parent=issuing).exclude(kind="issuing")
            if any(ca.certificate.serial_number == serial for ca in service):
                return "good", None, None
            return "unknown", None, None
        if cert.status == CertificateStatus.REVOKED:
            return "revoked", cert.revoked_at, cert.revocation_reason or "unspecified"
        return "good", None, None

    return pki.build_ocsp_response(
        request_der=request_der,
        status_for_serial=status_for_serial,
        issuer_cert=issuing.certificate,
        responder_cert=responder.certificate,
        responder_key_label=responder.key_label,
        now=timezone.now(),
    )


def tsa_respond(*, request_der: bytes) -> bytes:
    tsa = CertificateAuthority.objects.select_related("parent").get(kind=CertificateAuthority.Kind.TSA)
    return pki.build_timestamp_response(
        request_der=request_der,
        tsa_cert=tsa.certificate,
        tsa_key_label=tsa.key_label,
        chain=[tsa.parent.certificate],
        serial_number=_new_serial(),
        now=timezone.now(),
    )
