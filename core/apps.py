from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("API infrastructure")

    def ready(self) -> None:
        from core import checks, model_names
        from core.authentication import connect_token_cache

        checks.register()
        model_names.translate_derived_names()
        connect_token_cache()
