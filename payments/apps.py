from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Staged payments"

    def ready(self) -> None:
        from payments import plugin

        plugin.register()
