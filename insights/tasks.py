"""Celery tasks of the insights app (ids in; the services re-read under lock and are idempotent).

Periodic (CELERY_BEAT_SCHEDULE): insights.tasks.scan_sla_breaches and insights.tasks.escalate_sla_breaches every
5 minutes, insights.tasks.retry_webhook_deliveries every minute, insights.tasks.roll_up_days every 15 minutes.
"""

from celery import shared_task

from insights import escalation, rollups, sla, webhooks


@shared_task(acks_late=True)
def scan_sla_breaches() -> dict:
    return sla.sla_scan()


@shared_task(acks_late=True)
def escalate_sla_breaches() -> dict:
    return escalation.escalation_scan()


@shared_task(acks_late=True)
def deliver_webhook(delivery_id: int) -> str | None:
    delivery = webhooks.delivery_attempt(delivery_id=delivery_id)
    return delivery.state if delivery is not None else None


@shared_task(acks_late=True)
def retry_webhook_deliveries() -> int:
    ids = webhooks.due_delivery_ids()
    for pk in ids:
        deliver_webhook.delay(pk)
    return len(ids)


@shared_task(acks_late=True)
def roll_up_days() -> int:
    """Roll every finished day up into DayFigure (and the last few again); idempotent."""
    return rollups.roll_finished_days()
