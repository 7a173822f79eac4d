"""Every recurring job of dsign, as code. `manage.py register_schedules` upserts them (deploy, make demo)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Recurring:
    name: str
    func: str
    schedule_type: str  # django_q Schedule: I (minutes), H, D, M
    minutes: int | None = None


SCHEDULES = [
    Recurring("resume signing jobs", "signing.tasks.resume_signing_jobs", "I", minutes=1),
    Recurring("refresh CRLs", "certificates.tasks.refresh_crls", "H"),
    Recurring("certificate expiry warnings", "certificates.tasks.send_expiry_warnings", "D"),
    Recurring("signer reminders and escalation", "workflows.tasks.send_reminders", "H"),
    Recurring("renew archive timestamps", "workflows.tasks.renew_archive_timestamps", "D"),
    Recurring("anchor the audit chain", "audit.tasks.anchor_chain", "D"),
    Recurring("audit retention", "audit.tasks.apply_retention", "D"),
    Recurring("monthly report", "reports.tasks.send_monthly_report", "M"),
    Recurring("resume webhook deliveries", "integrations.tasks.resume_webhook_deliveries", "I", minutes=1),
    Recurring("resume e-mails", "mailer.tasks.resume_emails", "I", minutes=1),
    Recurring("clear expired sessions", "dsign.tasks.clear_sessions", "D"),
    Recurring("worker heartbeat", "dsign.tasks.worker_heartbeat", "I", minutes=1),
    Recurring("purge idempotency keys", "integrations.tasks.purge_idempotency_keys", "D"),
]
