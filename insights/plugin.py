"""How insights plugs into the stage engine (`register()`, called by InsightsConfig.ready()): every order event
goes out to the merchant's own systems (outbound webhooks, enterprise tier), written in the event's transaction."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from insights import events  # noqa: F401 - declares the SLA breach event kinds
from insights.models import WebhookEndpoint
from insights.webhooks import refresh_merchant_webhook_flag, webhook_event_listener
from workflows import hooks


def register() -> None:
    hooks.register_event_listener(webhook_event_listener)
    # The listener reads the merchant's tier and webhook flag from the engine's order lock.
    hooks.register_order_lock_related("merchant")
    # Cross-cutting, inside this app: the merchant's "has webhooks" flag follows its endpoints.
    for signal in (post_save, post_delete):
        signal.connect(refresh_merchant_webhook_flag, sender=WebhookEndpoint, dispatch_uid="merchant-webhook-flag")
