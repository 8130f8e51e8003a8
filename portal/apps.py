from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The consumer's page: `/track/<token>/`, opened from the signed link the consumer gets by SMS. It composes
    the apps below it (the order, its payments, vouchers and visits), as the demo does."""

    name = "portal"
    verbose_name = "Consumer page"
