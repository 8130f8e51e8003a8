from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "insights"
    verbose_name = "Platform insights"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from insights.models import WebhookEndpoint
        from insights.webhooks import forget_merchant_endpoints, webhook_event_listener
        from tenancy.models import Merchant
        from workflows import hooks

        hooks.register_event_listener(webhook_event_listener)
        # The listener caches each merchant's endpoints (and its tier's say): drop them when either changes.
        for model in (WebhookEndpoint, Merchant):
            for signal in (post_save, post_delete):
                signal.connect(forget_merchant_endpoints, sender=model, dispatch_uid=f"endpoints-{model.__name__}")
