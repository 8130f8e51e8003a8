"""Settings of the consumer's page, with their defaults (override any of them in settings)."""

from django.conf import settings

DEFAULTS = {
    # The SMS verification code (point 4 of issue 19).
    "PORTAL_CODE_TTL_SECONDS": 5 * 60,
    "PORTAL_CODE_MAX_ATTEMPTS": 5,  # wrong tries per code, then it is locked
    "PORTAL_CODES_PER_PHONE_PER_HOUR": 5,
    "PORTAL_CODES_PER_IP_PER_HOUR": 20,
    # How long a device stays confirmed for an order (ended sooner by logging out or revoking the link).
    "PORTAL_SESSION_DAYS": 30,
    # A rating can be changed this long after it was first given.
    "PORTAL_RATING_CHANGE_DAYS": 7,
    # A rating of 1-2 stars (the order's or a visit's) stays on the store's day this many days.
    "PORTAL_LOW_RATING_DAYS": 14,
    # Bookable windows shown on the page (the earliest ones).
    "PORTAL_SLOTS_SHOWN": 12,
}


def setting(name: str):
    return getattr(settings, name, DEFAULTS[name])
