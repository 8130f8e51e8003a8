"""What the notifications app adds to the order detail API (no queries: the link is signed data)."""

from rest_framework import serializers

from notifications.services import tracking_url


def tracking_section(order, request) -> str | None:
    """The contract's `tracking_url` of the order detail, for the order's consumer only. The page needs no login
    and shows the consumer's e-voucher codes and QR: staff and technicians who could open it could redeem a
    voucher the consumer never showed them, so their detail has no link (null)."""
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
