"""Write operations of the notifications app: the outbox, its delivery, reminders, tracking links.

Shape of a message's life:
1. An OrderEvent is recorded (inside its transaction); `on_order_event` (registered as the engine's
   event listener) writes the Notification rows it calls for, in that same transaction, and asks for
   delivery with `transaction.on_commit`.
2. `notification_deliver` (run by the Celery task) claims the row with a conditional UPDATE
   pending -> sending, so only one run ever sends it; it then sends through the channel and records
   the outcome (sent; pending again with a retry time; failed).
3. `notifications_relay` (periodic) re-queues rows left pending (the enqueue failed because the
   broker was down, or a retry was lost) and closes rows whose worker died mid-send.

By concern: links (tracking links), outbox (writing the messages, reminders), delivery (sending, retries, relay).
"""

from notifications.services.delivery import (
    DeliveryError,
    delivery_reference,
    notification_deliver,
    notification_retry,
    notifications_relay,
    retry_backoff_seconds,
)
from notifications.services.links import (
    tracking_link_revoke,
    tracking_order_for_token,
    tracking_order_id,
    tracking_token,
    tracking_url,
)
from notifications.services.outbox import (
    notification_preference_set,
    notifications_dispatch,
    notifications_enqueue,
    on_order_event,
    visit_reminders_create,
)

__all__ = [
    "DeliveryError", "delivery_reference", "notification_deliver", "notification_preference_set",
    "notification_retry", "notifications_dispatch", "notifications_enqueue", "notifications_relay",
    "on_order_event", "retry_backoff_seconds", "tracking_link_revoke", "tracking_order_for_token",
    "tracking_order_id", "tracking_token", "tracking_url", "visit_reminders_create",
]
