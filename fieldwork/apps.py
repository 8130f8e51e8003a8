from django.apps import AppConfig


class FieldworkConfig(AppConfig):
    name = "fieldwork"
    verbose_name = "Technician field work"

    def ready(self) -> None:
        from fieldwork import plugin

        plugin.register()
