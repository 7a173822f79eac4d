"""The internal CA and the lifecycle of users' certificates. Keys are generated in the token only.

Split by concern into sibling modules; every name stays importable from this package.
"""

from ..errors import AgreementRefused, CertificateError, CertificateStateError
from .agreement import _branded_email, agreement_email_send, agreement_link, agreement_resend, certificate_accept
from .ca import (
    CA_VALIDITY_DAYS,
    ISSUING_VALIDITY_DAYS,
    MIN_VALIDITY_DAYS,
    SERVICE_VALIDITY_DAYS,
    _service_certificate,
    _user_subject,
    ca_bootstrap,
    certificate_issue,
    encryption_certificate_issue,
    pem_chain,
    pki_urls,
    service_identities_rekey,
    tsa_certificate_publish,
)
from .enrolment import (
    EnrolmentResult,
    _request_external,
    certificate_renew,
    certificate_request_external,
    certificates_issue_for_org_unit,
    certificates_issue_for_users,
)
from .expiry import (
    EXPIRED_NOTICE_GRACE,
    ExpiryRun,
    _expiry_email_queue,
    _officer_emails,
    _threshold_for,
    certificates_expire,
    expiry_warnings_send,
)
from .lifecycle import (
    _TRANSITIONS,
    REVOCATION_REASONS,
    _is_ca_officer_or_admin,
    ca_officer_require,
    certificate_revoke,
    certificate_transition,
)

__all__ = [
    "AgreementRefused",
    "CertificateError",
    "CertificateStateError",
    "CA_VALIDITY_DAYS",
    "EXPIRED_NOTICE_GRACE",
    "EnrolmentResult",
    "ExpiryRun",
    "ISSUING_VALIDITY_DAYS",
    "MIN_VALIDITY_DAYS",
    "REVOCATION_REASONS",
    "SERVICE_VALIDITY_DAYS",
    "_TRANSITIONS",
    "_branded_email",
    "_expiry_email_queue",
    "_is_ca_officer_or_admin",
    "_officer_emails",
    "_request_external",
    "_service_certificate",
    "_threshold_for",
    "_user_subject",
    "agreement_email_send",
    "agreement_link",
    "agreement_resend",
    "ca_bootstrap",
    "ca_officer_require",
    "certificate_accept",
    "certificate_issue",
    "certificate_renew",
    "certificate_request_external",
    "certificate_revoke",
    "certificate_transition",
    "certificates_expire",
    "certificates_issue_for_org_unit",
    "certificates_issue_for_users",
    "encryption_certificate_issue",
    "expiry_warnings_send",
    "pem_chain",
    "pki_urls",
    "service_identities_rekey",
    "tsa_certificate_publish",
]
