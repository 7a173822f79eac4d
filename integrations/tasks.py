"""django-q2 tasks of the integrations app: thin adapters around services."""

from . import services


def deliver_webhook(delivery_id: int) -> str:
    return services.webhook_deliver(delivery_id=int(delivery_id))


def resume_webhook_deliveries() -> int:
    """Recurring sweeper: re-send deliveries whose task or retry schedule was lost."""
    due = services.webhook_deliveries_due()
    for delivery_id in due:
        services.webhook_delivery_enqueue(delivery_id=delivery_id)
    return len(due)


def purge_idempotency_keys() -> int:
    return services.idempotency_purge()
