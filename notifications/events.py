"""The order events the notifications app records: each kind declared once, with a small constructor."""

from __future__ import annotations

from workflows.events import declare, record_event
from workflows.models import OrderEvent, ServiceOrder

TRACKING_LINK_REVOKED = declare("tracking.link_revoked",
                                "Every tracking link handed out so far stopped working (a new one can be made).",
                                ("version",))


def tracking_link_revoked(*, order: ServiceOrder, actor, version: int) -> OrderEvent:
    return record_event(order=order, kind=TRACKING_LINK_REVOKED, actor=actor, payload={"version": version})

NOTIFICATION_UNDELIVERABLE = declare(
    "notification.undeliverable",
    "The SMS provider refused a message for good (a bad number, a template problem): not retried; the store is told.",
    ("notification", "channel", "message_kind", "reason"))


def notification_undeliverable(*, order: ServiceOrder, notification_id: int, channel: str, message_kind: str,
                               reason: str) -> OrderEvent:
    return record_event(order=order, kind=NOTIFICATION_UNDELIVERABLE, payload={
        "notification": notification_id, "channel": channel, "message_kind": message_kind, "reason": reason[:500]})
