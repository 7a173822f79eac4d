"""Reads of the signing app."""

from asn1crypto import x509


def verification_trust_roots() -> list[x509.Certificate]:
    from certificates.selectors import trust_roots_list

    return trust_roots_list()


def verification_revocations() -> list[dict]:
    """Certificates dsign's own CA revoked (see `signing.verification.verify_pdf_bytes`)."""
    from certificates.selectors import revocations_list

    return revocations_list()
