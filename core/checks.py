"""System checks of core (`manage.py check`, and every start of the service)."""

from django.conf import settings
from django.core import checks


def check_currency_places(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Amounts are kept in settings.CURRENCY_DECIMALS' places (core/money.py) and shown in CLDR's (core/display.py):
    they must agree, or an amount would be shown with other places than it is paid in."""
    from babel.numbers import get_currency_precision

    return [
        checks.Error(
            f"CURRENCY_DECIMALS gives {currency} {places} places; CLDR (Babel) shows it with "
            f"{get_currency_precision(currency)}.",
            hint="Use the currency's ISO 4217 minor unit.", id="core.E001",
        )
        for currency, places in getattr(settings, "CURRENCY_DECIMALS", {}).items()
        if get_currency_precision(currency) != places
    ]


def register() -> None:
    checks.register(check_currency_places, checks.Tags.compatibility)
