"""Copies of a document handed out: the PDF/A-3 archive copy and encrypted copies. Each is audited."""

from __future__ import annotations

from django.db import transaction

import audit
from accounts.models import User
from certificates.selectors import certificate_for_signing
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

    A recipient needs an encryption certificate (key encipherment); the internal CA issues signing-only
    certificates, so they are refused with ``no_encryption_certificate`` naming the user.
    """
    if (password is None) == (recipients is None):
        raise DomainError("Give either a password or a list of recipients.", code="invalid")
    certificates = []
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(f"The password needs at least {MIN_PASSWORD_LENGTH} characters.", code="weak_password")
    for username in recipients or []:
        user = User.objects.filter(username=username, is_active=True).first()
        certificate = certificate_for_signing(user=user) if user else None
        if certificate is None:
            raise DomainError(f"No certificate for recipient {username!r}.", code="unknown_recipient")
        certificates.append((username, certificate.certificate))
    version = latest_version(document)
    pdf = _read(version)
    try:
        data = document_encrypted_copy(
            pdf=pdf, password=password, recipients=[c for _, c in certificates] if recipients is not None else None
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
        },
    )
    return data
