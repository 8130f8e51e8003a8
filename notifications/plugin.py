"""How the notifications app plugs into the stage engine (`register()`, called by NotificationsConfig.ready()):
an event listener writes the messages each order event calls for into the outbox (in the event's own
transaction), and the order detail gets the consumer's `tracking_url` (no query: the link is signed data)."""

from rest_framework import serializers

from notifications import events  # noqa: F401 - declares the notifications' event kinds
from notifications.services import on_order_event, tracking_url
from workflows import hooks
from workflows.hooks import OrderDetailRows


def tracking_section(detail: OrderDetailRows, request) -> str | None:
    """The contract's `tracking_url` of the order detail, for the order's consumer only. The page needs no login
    and shows the consumer's e-voucher codes and QR: staff and technicians who could open it could redeem a
    voucher the consumer never showed them, so their detail has no link (null)."""
    order = detail.order
    if request is None or getattr(request.user, "pk", None) != order.consumer_id:
        return None
    url = tracking_url(order)
    if url.startswith("/"):
        url = request.build_absolute_uri(url)
    return url


def tracking_schema():
    return serializers.URLField(read_only=True, allow_null=True, help_text=(
        "The order's tracking page: a signed link, no login. Only in the consumer's own detail (null for staff, "
        "technicians and operators: the page shows the consumer's e-voucher codes)."))


def register() -> None:
    hooks.register_event_listener(on_order_event)
    # Nearly every event messages the consumer: their preferences come with the engine's order lock.
    hooks.register_order_lock_related("consumer__notification_preference")
    hooks.register_order_section("tracking_url", serialize=tracking_section, schema=tracking_schema)
