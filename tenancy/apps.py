from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class TenancyConfig(AppConfig):
    name = "tenancy"
    verbose_name = _("Merchants, stores and staff")

    def ready(self) -> None:
        checks.register(check_phone_region, checks.Tags.compatibility)


def check_phone_region(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """DEFAULT_PHONE_REGION must be a region libphonenumber knows, or every number typed without its country
    code would be refused as invalid."""
    import phonenumbers
    from django.conf import settings

    region = getattr(settings, "DEFAULT_PHONE_REGION", "")
    if region in phonenumbers.SUPPORTED_REGIONS:
        return []
    return [
        checks.Error(
            f"DEFAULT_PHONE_REGION {region!r} is not a region libphonenumber knows.",
            hint='Use an ISO 3166 alpha-2 code such as "CN".',
            id="tenancy.E001",
        )
    ]
