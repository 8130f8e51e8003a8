from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "insights"
    verbose_name = "Platform insights"

    def ready(self) -> None:
        from insights import plugin

        plugin.register()
