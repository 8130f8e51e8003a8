"""Money for every app: a currency's places, amounts that need no rounding, splitting a total so the parts add
up exactly. Money is Decimal, rounded once per currency. Amounts for people: core/display.py (CLDR, per language).
Lives in core because workflows (template shares, order totals) uses it too and may not import payments
(dependencies point one way, README)."""

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import ngettext


def currency_decimals(currency: str) -> int:
    return settings.CURRENCY_DECIMALS.get((currency or "").upper(), 2)


def minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-currency_decimals(currency))


def quantize(amount: Decimal, currency: str) -> Decimal:
    return Decimal(amount).quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def currencies() -> list[str]:
    """The currencies orders and payments may use: those settings.CURRENCY_DECIMALS knows the minor unit of."""
    return sorted(settings.CURRENCY_DECIMALS)


def whole_minor_units(amount: Decimal, currency: str) -> bool:
    """True when `amount` needs no rounding in `currency` ("100.00" JPY is fine, "100.50" JPY is not)."""
    return Decimal(amount) == quantize(amount, currency)


def minor_units_error(amount: Decimal, currency: str) -> str | None:
    """Why `amount` cannot be taken in `currency` as given ("JPY amounts are whole numbers."), or None: an amount
    is never rounded silently (100.50 JPY became 101)."""
    if whole_minor_units(amount, currency):
        return None
    places = currency_decimals(currency)
    if places == 0:
        return _("%(currency)s amounts are whole numbers.") % {"currency": currency}
    return ngettext("%(currency)s amounts are at most %(places)s decimal place.",
                    "%(currency)s amounts are at most %(places)s decimal places.", places) % {
        "currency": currency, "places": places}


def allocate(total: Decimal, shares: list[Decimal], currency: str) -> list[Decimal]:
    """Split `total` by percentage `shares` (adding up to 100) with the largest-remainder method.

    Every part is a whole number of minor units, and the parts add up to the total exactly.
    """
    if not shares:
        return []
    unit = minor_unit(currency)
    units_total = int((quantize(total, currency) / unit).to_integral_value())
    share_sum = sum(shares, Decimal(0))
    exact = [Decimal(units_total) * s / share_sum for s in shares]
    floors = [int(e.to_integral_value(rounding=ROUND_DOWN)) for e in exact]
    leftover = units_total - sum(floors)
    # Hand the leftover units to the largest remainders; ties go to the earlier stage.
    order = sorted(range(len(shares)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:leftover]:
        floors[i] += 1
    return [(Decimal(u) * unit).quantize(unit) for u in floors]
