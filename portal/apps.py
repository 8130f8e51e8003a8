from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    """The consumer's page: `/track/<token>/`, opened from the signed link the consumer gets by SMS. It composes
    the apps below it (the order, its payments, vouchers and visits), as the demo does."""

    name = "portal"
    verbose_name = _("Consumer page")
