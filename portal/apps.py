from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    """The consumer's page: `/track/<token>/`, opened from the signed link the consumer gets by SMS. It composes
    the apps below it (the order, its payments, vouchers, visits and photos), as the demo does, and lets the
    consumer act on the order once the phone is proven by an SMS code."""

    name = "portal"
    verbose_name = _("Consumer page")

    def ready(self) -> None:
        from portal import plugin

        plugin.register()
