"""Tasks of the installation itself (run by django-q2 workers)."""

from . import health


def worker_heartbeat() -> None:
    """Scheduled every minute; /readyz reports a worker only if one ran this recently."""
    health.heartbeat_record(worker=health.worker_name())


def clear_sessions() -> None:
    """Daily: delete expired sessions (Django keeps them in the database until someone does)."""
    from django.core.management import call_command

    call_command("clearsessions")
