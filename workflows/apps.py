from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = _("Workflows and service orders")

    def ready(self) -> None:
        from workflows.store_values import connect_store_values_cache

        connect_store_values_cache()
