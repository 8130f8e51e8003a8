"""The order events the consumer's page records. No event carries a code or a phone number."""

from __future__ import annotations

from workflows.events import declare, record_event
from workflows.models import OrderEvent, ServiceOrder

CODE_SENT = declare("portal.code_sent", "A verification code was sent by SMS to the order's consumer phone.",
                    ("code", "expires_at"))
CODE_LOCKED = declare("portal.code_locked", "A verification code was entered wrongly too often: it is locked.",
                      ("code", "attempts"))
SESSION_OPENED = declare("portal.session_opened", "The consumer proved the phone: the page may act on this device.",
                         ("session", "expires_at"))
SESSION_ENDED = declare("portal.session_ended", "The consumer logged out of the page on a device.", ("session",))
RATING_GIVEN = declare("rating.given", "The consumer rated the service (the order and each visit's technician).",
                       ("rating", "score", "visits", "comment", "changed", "low"))


def portal_event(kind, /, *, order: ServiceOrder, actor=None, **payload) -> OrderEvent:
    """One of the portal.* or rating.* kinds (the caller holds the order's row lock)."""
    return record_event(order=order, kind=kind, actor=actor, payload=payload)
