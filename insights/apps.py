from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "insights"
    verbose_name = "Platform insights"

    def ready(self) -> None:
        from insights.webhooks import webhook_event_listener
        from workflows import hooks

        hooks.register_event_listener(webhook_event_listener)
