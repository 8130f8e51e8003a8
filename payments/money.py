"""Money is Decimal, rounded once per currency, and split so the parts add up exactly."""

from decimal import ROUND_DOWN, Decimal

from django.conf import settings

# The currency's places are core's (notifications shows amounts too and may not import payments).
from core.money import currency_decimals, minor_unit, quantize

__all__ = ["allocate", "currencies", "currency_decimals", "minor_unit", "minor_units_error", "quantize",
           "whole_minor_units"]


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
    return f"{currency} amounts are {'whole numbers' if places == 0 else f'at most {places} decimal places'}."


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
