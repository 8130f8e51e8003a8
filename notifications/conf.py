"""Settings of the notifications app, with their defaults (override any of them in settings)."""

from django.conf import settings

DEFAULTS = {
    # Delivery attempts per notification (the first one included) before it is marked failed.
    "NOTIFICATION_MAX_ATTEMPTS": 5,
    # Exponential backoff between attempts: 30 s, 60 s, 120 s, ... capped below.
    "NOTIFICATION_RETRY_BACKOFF_SECONDS": 30,
    "NOTIFICATION_RETRY_BACKOFF_MAX_SECONDS": 3600,
    # The outbox relay re-queues pending rows whose enqueue is older than this.
    "NOTIFICATION_RELAY_AFTER_SECONDS": 60,
    # A row left "sending" longer than this lost its worker mid-send: it is marked failed
    # ("outcome unknown") rather than sent again, so nobody gets a message twice.
    "NOTIFICATION_SENDING_TIMEOUT_SECONDS": 15 * 60,
    "NOTIFICATION_RELAY_BATCH_SIZE": 500,
    # Visit reminders are made this long before the visit.
    "NOTIFICATION_REMINDER_LEAD_HOURS": 24,
    # Tracking links: salt of the signature, and an optional maximum age in days (0 = no expiry).
    "TRACKING_TOKEN_SALT": "notifications.tracking",
    "TRACKING_TOKEN_MAX_AGE_DAYS": 0,
}


def setting(name: str):
    return getattr(settings, name, DEFAULTS[name])
