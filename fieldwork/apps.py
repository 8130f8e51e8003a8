from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FieldworkConfig(AppConfig):
    name = "fieldwork"
    verbose_name = _("Technician field work")

    def ready(self) -> None:
        from fieldwork import plugin

        plugin.register()
