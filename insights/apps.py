from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "insights"
    verbose_name = "Platform insights"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from insights.models import WebhookEndpoint
        from insights.webhooks import refresh_merchant_webhook_flag, webhook_event_listener
        from workflows import hooks

        hooks.register_event_listener(webhook_event_listener)
        # The listener reads the merchant's tier and webhook flag from the engine's order lock.
        hooks.register_order_lock_related("merchant")
        for signal in (post_save, post_delete):
            signal.connect(refresh_merchant_webhook_flag, sender=WebhookEndpoint, dispatch_uid="merchant-webhook-flag")
