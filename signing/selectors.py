"""Reads of the signing app."""

from asn1crypto import x509


def verification_trust_roots() -> list[x509.Certificate]:
    from certificates.selectors import trust_roots_list

    return trust_roots_list()


def verification_revocations() -> list[dict]:
    """Certificates dsign's own CA revoked (see `signing.verification.verify_pdf_bytes`)."""
    from certificates.selectors import revocations_list

    return revocations_list()


def jobs_failed_or_waiting(*, start, end) -> list[tuple]:
    """Signing jobs created or finished in [start, end) that failed or wait for a retry, oldest first:
    (id, handler, subject_id, field_name, status, attempts, error_code, error_message, created_at, finished_at).
    """
    from django.db.models import Q

    from .models import JobStatus, SigningJob

    return list(
        SigningJob.objects.filter(status__in=[JobStatus.FAILED, JobStatus.WAITING])
        .filter(Q(created_at__gte=start, created_at__lt=end) | Q(finished_at__gte=start, finished_at__lt=end))
        .order_by("id")
        .values_list(
            "id",
            "handler",
            "subject_id",
            "field_name",
            "status",
            "attempts",
            "error_code",
            "error_message",
            "created_at",
            "finished_at",
        )
    )
