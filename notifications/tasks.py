"""Celery tasks of the notifications app. Thin: ids in, the service does the work.

`deliver_notification` is acks_late (a worker lost mid-task gets it redelivered) and may therefore
run twice for one notification, or be queued twice (on commit and by the relay): the service's
conditional UPDATE pending -> sending makes exactly one run send it.
"""

from celery import shared_task

from notifications import services
from notifications.conf import setting


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(services.DeliveryError,),
    retry_backoff=setting("NOTIFICATION_RETRY_BACKOFF_SECONDS"),
    retry_backoff_max=setting("NOTIFICATION_RETRY_BACKOFF_MAX_SECONDS"),
    retry_jitter=False,
    # The service counts attempts on the row and stops raising at NOTIFICATION_MAX_ATTEMPTS.
    max_retries=setting("NOTIFICATION_MAX_ATTEMPTS") - 1,
)
def deliver_notification(self, notification_id: int) -> str:
    # The same message redelivered after its worker died carries the same id and retry number, so it can
    # resume a row it claimed; a retry (a new message) or another queued copy cannot.
    return services.notification_deliver(
        notification_id=notification_id, claim_token=f"{self.request.id}:{self.request.retries or 0}"
    )


@shared_task(acks_late=True)
def dispatch_notifications(notification_ids: list[int]) -> int:
    """One transaction's notifications, queued as one message: queue each one's delivery. Run twice
    (redelivered after a lost worker), it queues them twice, which the claim above makes harmless."""
    return services.notifications_enqueue(notification_ids)


@shared_task
def relay_pending_notifications() -> int:
    """Every minute: re-queue pending notifications whose delivery was never queued or got lost."""
    return services.notifications_relay()


@shared_task
def send_visit_reminders() -> int:
    """Every 10 minutes: make the reminder of each booked visit due within 24 hours (once each)."""
    return services.visit_reminders_create()
