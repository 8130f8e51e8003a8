from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from notifications import sections, services
        from workflows.hooks import register_event_listener, register_order_lock_related, register_order_section

        register_event_listener(services.on_order_event)
        # Nearly every event messages the consumer: their preferences come with the engine's order lock.
        register_order_lock_related("consumer__notification_preference")
        register_order_section("tracking_url", serialize=sections.tracking_section, schema=sections.tracking_schema)
