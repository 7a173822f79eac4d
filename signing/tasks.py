"""django-q2 tasks of the signing app: thin adapters around services."""

from . import services


def run_signing_job(job_id: int) -> str:
    return services.signing_job_run(job_id=job_id)


def run_signing_batch(batch_id: int) -> dict:
    return services.signing_batch_run(batch_id=batch_id)


def resume_signing_jobs() -> int:
    return services.signing_jobs_resume()
