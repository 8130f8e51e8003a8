"""What the notifications app adds to the order detail API (no queries: the link is signed data)."""

from rest_framework import serializers

from notifications.services import tracking_url


def tracking_section(order, request) -> str:
    """The contract's `tracking_url` of the order detail."""
    url = tracking_url(order)
    if request is not None and url.startswith("/"):
        url = request.build_absolute_uri(url)
    return url


def tracking_schema():
    return serializers.URLField(read_only=True, help_text="The order's tracking page: a signed link, no login.")
