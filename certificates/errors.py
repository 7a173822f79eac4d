"""What the certificates app refuses: each kind a DomainError with its HTTP status and machine code.

They are also ValueError (and the agreement refusal a PermissionError), as the bare errors they replace were.
"""

from __future__ import annotations

from core.errors import DomainError

__all__ = ["AgreementRefused", "CertificateError", "CertificateStateError"]


class CertificateError(DomainError, ValueError):
    """A request about a certificate, a CSR, a PKCS#12 file or a trust root that cannot be done."""

    status = 400
    code = "certificate_refused"


class CertificateStateError(CertificateError):
    """The certificate is not in a state that allows this; the message says why."""

    status = 409
    code = "certificate_state"


class AgreementRefused(CertificateError, PermissionError):
    """The acceptance link is not the holder's."""

    status = 403
    code = "agreement_refused"
