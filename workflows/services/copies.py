"""Copies of a document handed out: the PDF/A-3 archive copy and encrypted copies. Each is audited."""

from __future__ import annotations

import unicodedata

from django.db import transaction

import audit
from accounts.models import User
from certificates.selectors import certificate_for_encryption, encryption_certificates_of
from core.errors import DomainError
from signing.encryption import EncryptionInputError, document_encrypted_copy

from ..models import Document, DocumentVersion
from ..selectors import archive_version, latest_version

MIN_PASSWORD_LENGTH = 8


def _read(version: DocumentVersion) -> bytes:
    from ..signing_handler import version_read

    return version_read(version)


@transaction.atomic
def document_archive_read(*, document: Document, actor) -> tuple[DocumentVersion, bytes]:
    """The newest PDF/A-3 archive copy of a completed document (404 ``no_archive`` when none was made)."""
    version = archive_version(document)
    if version is None:
        raise DomainError("This document has no archive copy yet.", code="no_archive", status=404)
    data = _read(version)
    audit.record(
        actor=actor,
        action="document.archive_downloaded",
        target=document,
        details={"version": version.number, "sha256": version.sha256},
    )
    return version, data


@transaction.atomic
def document_encrypted_copy_make(
    *, document: Document, actor, password: str | None = None, recipients: list[str] | None = None
) -> bytes:
    """The latest version wrapped and encrypted (AES-256) for a password or for users' certificates.

    A recipient needs an active encryption certificate (key encipherment, issued on request:
    ``certificates.services.encryption_certificate_issue``); one without is refused with 422
    ``no_encryption_certificate`` naming the user. Signing certificates are never used for encryption.
    """
    if (password is None) == (recipients is None):
        raise DomainError("Give either a password or a list of recipients.", code="invalid")
    certificates = []
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(f"The password needs at least {MIN_PASSWORD_LENGTH} characters.", code="weak_password")
    if password is not None and unicodedata.normalize("NFKC", password) != password:
        # PDF 2.0 readers SASLprep (NFKC) the password, qpdf and others use the typed bytes: a password
        # that NFKC changes (SARA AM "ำ", full-width letters…) would open in some readers and not others.
        raise DomainError(
            "This password would not open the copy in every PDF reader (it has characters such as ำ that "
            "readers treat differently); choose another.",
            code="password_not_portable",
        )
    for username in dict.fromkeys(recipients or []):
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise DomainError(f"No such recipient {username!r}.", code="unknown_recipient")
        certificate = certificate_for_encryption(user=user)
        if certificate is None:
            raise DomainError(
                f"{username} has no encryption certificate; they (or a CA officer) can ask for one.",
                code="no_encryption_certificate",
                status=422,
            )
        certificates.append((username, certificate))
    version = latest_version(document)
    pdf = _read(version)
    try:
        data = document_encrypted_copy(
            pdf=pdf,
            password=password,
            recipients=[c.certificate for _, c in certificates] if recipients is not None else None,
        )
    except EncryptionInputError as exc:
        if recipients:
            raise DomainError(
                f"Cannot encrypt to these recipients: {exc}", code="no_encryption_certificate", status=422
            ) from exc
        raise DomainError(str(exc), code="invalid") from exc
    audit.record(
        actor=actor,
        action="document.encrypted_copy",
        target=document,
        details={
            "version": version.number,
            "sha256": version.sha256,
            "method": "password" if password is not None else "recipients",
            "recipients": [u for u, _ in certificates],
            "certificates": [c.serial_number for _, c in certificates],
        },
    )
    return data


def encrypted_copy_open(*, user, data: bytes, otp: str, request=None) -> bytes:
    """The signed document inside a copy encrypted to `user`, unwrapped by their key in the HSM after
    their fresh code (signing.decryption). 422 ``not_a_recipient`` when no encryption certificate of
    theirs can open it; the step-up refuses a wrong code (403) before anything is decrypted. Audited."""
    import hashlib

    from pyhanko.pdf_utils.misc import PdfError

    from signing import services as signing_services
    from signing.decryption import SignerEnvelopeKeyDecrypter, key_transport_block
    from signing.encryption import EncryptionInputError, extract_signed_document

    found = None
    for certificate in encryption_certificates_of(user=user):
        block = key_transport_block(wrapper=data, cert=certificate.certificate)
        if block is not None:
            found = certificate, block[0]
            break
    if found is None:
        raise DomainError(
            "This file is not a copy encrypted to your encryption certificate.", code="not_a_recipient", status=422
        )
    certificate, wrapped = found
    item = {"subject": certificate.pk, "sha256": hashlib.sha256(wrapped).hexdigest(), "size": len(wrapped)}
    activation = signing_services.decryption_activate(user=user, code=otp, items=[item], request=request)
    decrypter = SignerEnvelopeKeyDecrypter(
        cert=certificate.certificate, key_label=certificate.key_label, activation=activation, subject=certificate.pk
    )
    try:
        inner = extract_signed_document(wrapper=data, decrypter=decrypter)
    except (EncryptionInputError, PdfError, ValueError) as exc:
        raise DomainError(f"The copy could not be opened: {exc}", code="not_opened", status=422) from exc
    digest = hashlib.sha256(inner).hexdigest()
    version = DocumentVersion.objects.filter(sha256=digest).select_related("document").first()
    with transaction.atomic():
        audit.record(
            actor=user,
            action="document.encrypted_copy_opened",
            target=version.document if version else None,
            details={"certificate": certificate.serial_number, "sha256": digest, "size": len(data)},
        )
    return inner
