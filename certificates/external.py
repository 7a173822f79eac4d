"""Certificates from elsewhere: the certificate an external CA issued for our CSR, PKCS#12 imports (the key
goes into the token, non-extractable), and the trust roots signatures are checked against."""

from __future__ import annotations

import asyncio
import hashlib
import secrets

from asn1crypto import cms, keys, pem, x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError, ValidationError

import audit

from . import pki, user_keys
from .errors import CertificateError, CertificateStateError
from .models import Certificate, CertificateStatus, TrustRoot
from .selectors import trust_roots_list
from .services import agreement_email_send, ca_officer_require, certificate_transition, pem_chain


def _load_certificates(data: bytes) -> list[x509.Certificate]:
    """Certificates from PEM (certificates or PKCS#7), DER or DER PKCS#7, in the order given."""
    # Only PEM text is stripped: DER may end in bytes that look like whitespace (0x09-0x0d, 0x20).
    if not data.strip():
        raise CertificateError("The file is empty.")
    blobs: list[tuple[str, bytes]] = []
    if pem.detect(data.strip()):
        try:
            for kind, _, der in pem.unarmor(data.strip(), multiple=True):
                blobs.append((kind, der))
        except ValueError as exc:
            raise CertificateError(f"The PEM file cannot be read: {exc}")
    else:
        blobs.append(("", data))
    certs: list[x509.Certificate] = []
    for kind, der in blobs:
        if kind in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"):
            certs.append(_parse_certificate(der))
        elif kind in ("PKCS7", "CMS", ""):
            certs.extend(_parse_pkcs7(der) if kind else _parse_der(der))
    if not certs:
        raise CertificateError("The file holds no certificate (expected PEM, DER or PKCS#7).")
    return certs


def _parse_certificate(der: bytes) -> x509.Certificate:
    try:
        cert = x509.Certificate.load(der)
        _ = cert.native  # asn1crypto parses lazily; this makes a damaged file fail here
        return cert
    except (ValueError, TypeError, KeyError, OverflowError):
        raise CertificateError("The file is not a certificate in PEM, DER or PKCS#7 form.")


def _parse_pkcs7(der: bytes) -> list[x509.Certificate]:
    try:
        info = cms.ContentInfo.load(der)
        if info["content_type"].native != "signed_data":
            raise ValueError
        certs = [c.chosen for c in info["content"]["certificates"] if c.name == "certificate"]
        for cert in certs:
            _ = cert.native
        return certs
    except (ValueError, TypeError, KeyError, OverflowError):
        raise CertificateError("The PKCS#7 file cannot be read.")


def _parse_der(der: bytes) -> list[x509.Certificate]:
    try:
        return _parse_pkcs7(der)
    except ValueError:
        return [_parse_certificate(der)]


def _validate_chain(*, leaf: x509.Certificate, others: list[x509.Certificate]) -> None:
    """Refuse a certificate that does not chain to an enabled trust root or is not valid now."""
    roots = trust_roots_list()
    if not roots:
        raise CertificateError("No trust root is enabled; add the issuing CA's root under Trust roots first.")
    context = ValidationContext(
        trust_roots=roots, other_certs=others, allow_fetching=False, revocation_mode="soft-fail"
    )
    validator = CertificateValidator(leaf, intermediate_certs=others, validation_context=context)
    try:
        asyncio.run(validator.async_validate_usage(set()))
    except PathBuildingError:
        raise CertificateError(
            f"The certificate of {leaf.subject.human_friendly} does not chain to an enabled trust root "
            f"(issuer: {leaf.issuer.human_friendly}); add the CA's root under Trust roots or include the chain."
        )
    except (PathValidationError, ValidationError) as exc:
        raise CertificateError(f"The certificate chain is not valid: {exc}")


def _fill_from_certificate(record: Certificate, cert: x509.Certificate, chain: list[x509.Certificate]) -> dict:
    validity = cert["tbs_certificate"]["validity"]
    return {
        "certificate_der": cert.dump(),
        "chain_pem": pem_chain(chain),
        "serial_number": format(cert.serial_number, "x"),
        "subject_cn": cert.subject.native.get("common_name", "") or record.subject_cn,
        "issuer_cn": cert.issuer.native.get("common_name", "") or cert.issuer.human_friendly[:300],
        "not_before": validity["not_before"].native,
        "not_after": validity["not_after"].native,
        "agreement_token": secrets.token_urlsafe(32),
    }


def _split_leaf(certs: list[x509.Certificate], public_key) -> tuple[x509.Certificate | None, list]:
    for cert in certs:
        if pki.certificate_matches_key(cert, public_key):
            return cert, [c for c in certs if c is not cert]
    return None, certs


@transaction.atomic(durable=True)
def certificate_import_issued(*, certificate: Certificate, data: bytes, actor) -> Certificate:
    """Attach what the external CA issued for our CSR; then the holder must accept the agreement."""
    ca_officer_require(actor, allow_holder_of=certificate)
    cert = Certificate.objects.select_for_update().get(pk=certificate.pk)
    if cert.status != CertificateStatus.AWAITING_ISSUANCE:
        raise CertificateStateError(
            f"an issued certificate can only be imported for a request awaiting issuance "
            f"(this one is {cert.get_status_display()})"
        )
    certs = _load_certificates(data)
    leaf, others = _split_leaf(certs, user_keys.key_public(label=cert.key_label))
    if leaf is None:
        raise CertificateError(
            "The certificate does not match the key generated for this request: its public key differs "
            f"(certificate for {certs[0].subject.human_friendly}). Import the certificate issued for this CSR."
        )
    _validate_chain(leaf=leaf, others=others)
    certificate_transition(cert, "import", **_fill_from_certificate(cert, leaf, others))
    audit.record(
        actor=actor,
        action="certificates.imported",
        target=cert,
        details={"serial": cert.serial_number, "issuer": cert.issuer_cn, "not_after": cert.not_after},
    )
    transaction.on_commit(lambda: agreement_email_send(certificate_id=cert.pk))
    return cert


def _open_pkcs12(data: bytes, password: str | bytes | None):
    if isinstance(password, str):
        password = password.encode()
    try:
        key, leaf, extra = pkcs12.load_key_and_certificates(data, password or None)
    except (ValueError, TypeError):
        raise CertificateError("The PKCS#12 file cannot be opened: the password is wrong or the file is damaged.")
    if key is None or leaf is None:
        raise CertificateError("The PKCS#12 file must hold both the private key and its certificate.")
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CertificateError("Only RSA and EC keys can be imported.")
    public = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*public) != leaf.public_key().public_bytes(*public):
        raise CertificateError("The private key in the PKCS#12 file does not match its certificate.")
    private = keys.PrivateKeyInfo.load(
        key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    der = serialization.Encoding.DER
    return (
        private,
        x509.Certificate.load(leaf.public_bytes(der)),
        [x509.Certificate.load(c.public_bytes(der)) for c in extra or []],
    )


def _algorithm_name(private: keys.PrivateKeyInfo) -> str:
    if private.algorithm == "rsa":
        return f"rsa{private.bit_size}"
    curve = private.curve[1]
    return {"secp256r1": "ec-p256", "secp384r1": "ec-p384", "secp521r1": "ec-p521"}.get(curve, f"ec-{curve}")


@transaction.atomic(durable=True)
def certificate_import_pkcs12(*, user, data: bytes, password: str | bytes | None, actor) -> Certificate:
    """Move an existing certificate and key into the token (sensitive, non-extractable)."""
    ca_officer_require(actor)
    private, leaf, extra = _open_pkcs12(data, password)
    _validate_chain(leaf=leaf, others=extra)
    label = f"user-{user.pk}-{secrets.token_hex(6)}"
    record = Certificate(
        user=user,
        status=CertificateStatus.AWAITING_ISSUANCE,
        source=Certificate.Source.PKCS12,
        key_label=label,
        key_algorithm=_algorithm_name(private),
    )
    for name, value in _fill_from_certificate(record, leaf, extra).items():
        setattr(record, name, value)
    record.save()
    user_keys.key_import(label=label, private_key=private)
    certificate_transition(record, "import")
    audit.record(
        actor=actor,
        action="certificates.pkcs12_imported",
        target=record,
        details={"user": user.username, "serial": record.serial_number, "issuer": record.issuer_cn},
    )
    transaction.on_commit(lambda: agreement_email_send(certificate_id=record.pk))
    return record


# --- trust roots ----------------------------------------------------------------------------------


def trust_root_parse(data: bytes) -> x509.Certificate:
    """The one CA certificate in `data` (PEM or DER), refused when it is not a CA or is already configured."""
    certs = _load_certificates(data)
    if len(certs) != 1:
        raise CertificateError("Upload exactly one root certificate.")
    cert = certs[0]
    constraints = cert.basic_constraints_value
    if constraints is None or not constraints["ca"].native:
        raise CertificateError(
            "This is not a CA certificate (basicConstraints cA is not set); it cannot be a trust root."
        )
    if TrustRoot.objects.filter(fingerprint_sha256=hashlib.sha256(cert.dump()).hexdigest()).exists():
        raise CertificateError("This root is already configured.")
    return cert


# Not durable: the admin's add form calls it inside its own transaction.
@transaction.atomic
def trust_root_add(*, name: str, source: str, data: bytes, actor, enabled: bool = True) -> TrustRoot:
    """Add a root (PEM or DER) that signatures and imported certificates may chain to.

    A root added by a CA officer waits for a second CA officer's approval (`trust_root_approve`) before
    anything is verified against it; only the system itself (actor None, set-up) adds approved roots.
    """
    ca_officer_require(actor)
    if source not in TrustRoot.Source.values:
        raise CertificateError(f"unknown source {source!r}")
    cert = trust_root_parse(data)
    root = TrustRoot.objects.create(
        name=name or cert.subject.human_friendly[:200],
        source=source,
        certificate_der=cert.dump(),
        enabled=enabled,
        added_by=actor,
        approved_at=timezone.now() if actor is None else None,
    )
    audit.record(
        actor=actor,
        action="certificates.trust_root_added",
        target=root,
        details={
            "subject": cert.subject.human_friendly,
            "sha256": root.fingerprint_sha256,
            "source": source,
            "awaiting_approval": not root.approved,
        },
    )
    return root


@transaction.atomic
def trust_root_approve(*, trust_root: TrustRoot, actor) -> TrustRoot:
    """The second CA officer's approval (four eyes); the one who added the root cannot approve it."""
    if actor is None:
        raise PermissionDenied(_("A trust root is approved by a CA officer."))
    ca_officer_require(actor)
    root = TrustRoot.objects.select_for_update().get(pk=trust_root.pk)
    if root.approved:
        return root
    if root.added_by_id == actor.pk:
        raise PermissionDenied(_("A second CA officer must approve this root; you added it yourself."))
    root.approved_by, root.approved_at = actor, timezone.now()
    root.save(update_fields=["approved_by", "approved_at"])
    audit.record(
        actor=actor,
        action="certificates.trust_root_approved",
        target=root,
        details={"sha256": root.fingerprint_sha256, "added_by": root.added_by.username if root.added_by else None},
    )
    return root


@transaction.atomic
def trust_root_set_enabled(*, trust_root: TrustRoot, enabled: bool, actor) -> TrustRoot:
    ca_officer_require(actor)
    root = TrustRoot.objects.select_for_update().get(pk=trust_root.pk)
    if root.enabled == enabled:
        return root
    root.enabled = enabled
    root.save(update_fields=["enabled"])
    audit.record(
        actor=actor,
        action="certificates.trust_root_enabled" if enabled else "certificates.trust_root_disabled",
        target=root,
        details={"sha256": root.fingerprint_sha256},
    )
    return root
