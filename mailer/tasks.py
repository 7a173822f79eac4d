"""django-q2 tasks of the e-mail ledger: thin adapters around services."""

from . import services


def send_email(email_id: int) -> str:
    return services.email_send(email_id=int(email_id))


def resume_emails() -> int:
    """Recurring sweeper: e-mails whose retry time came, or whose task was lost."""
    due = services.emails_due()
    for email_id in due:
        services.email_enqueue(email_id=email_id)
    return len(due)
