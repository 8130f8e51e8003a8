"""A currency's places, for every app: payments computes with them, notifications and the pages show
amounts with them ("12,000.00 CNY", "12,000 JPY"). Lives in core because the apps that show money
(notifications) may not import payments (dependencies point one way, README)."""

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings


def currency_decimals(currency: str) -> int:
    return settings.CURRENCY_DECIMALS.get((currency or "").upper(), 2)


def minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-currency_decimals(currency))


def quantize(amount: Decimal, currency: str) -> Decimal:
    return Decimal(amount).quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def display(amount, currency: str) -> str:
    """An amount for people, with thousands separators and the currency's own places; "" when it is not
    a number."""
    try:
        return f"{quantize(Decimal(str(amount)), currency):,.{currency_decimals(currency)}f} {currency}"
    except (ArithmeticError, ValueError, TypeError):
        return ""
