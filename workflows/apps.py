from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = _("Workflows and service orders")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from workflows.chain_tail import ensure_tail_trigger
        from workflows.store_values import connect_store_values_cache

        connect_store_values_cache()
        post_migrate.connect(ensure_tail_trigger, sender=self, dispatch_uid="workflows.ensure_tail_trigger")
