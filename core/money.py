"""Money for every app: a currency's places, amounts that need no rounding, splitting a total so the parts add
up exactly. Money is Decimal, rounded once per currency. Amounts for people: core/display.py (CLDR, per language).
Lives in core because workflows (template shares, order totals) uses it too and may not import payments
(dependencies point one way, README)."""

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import NamedTuple

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.errors import DomainError


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


class Part(NamedTuple):
    """One paying stage's part of a total: a percentage `share`, or a `fixed` amount in `currency` (a deposit).
    Exactly one of `share` and `fixed` is given."""

    share: Decimal | None = None
    fixed: Decimal | None = None
    currency: str = ""


def part_errors(share: Decimal | None, fixed: Decimal | None, currency: str) -> dict[str, list[str]]:
    """Why a stage's payment cannot be taken as given, by field (payment_amount, payment_currency), or {}: a share
    or a fixed amount, not both; a fixed amount positive, in a known currency, in whole minor units of it."""
    if fixed is None:
        return {}
    if share is not None:
        return {"payment_amount": [_("Give a payment share or a fixed amount, not both.")]}
    if (currency or "").upper() not in settings.CURRENCY_DECIMALS:
        return {"payment_currency": [_("Not a currency this service takes: %(currency)s.") % {"currency": currency}]}
    if fixed <= 0:
        return {"payment_amount": [_("A fixed amount must be positive.")]}
    if error := minor_units_error(fixed, currency):
        return {"payment_amount": [error]}
    return {}


class TotalBelowFixed(DomainError):
    code = "total_below_fixed_payments"
    default_detail = gettext_lazy("The total is less than the fixed payments of this workflow.")


class FixedCurrencyMismatch(DomainError):
    code = "currency_mismatch"
    default_detail = gettext_lazy("The fixed payments of this workflow are in another currency.")


def allocate_with_fixed(total: Decimal, parts: list[Part], currency: str) -> list[Decimal]:
    """Split `total` into `parts`: each fixed part takes its amount exactly, the shares split the rest with
    `allocate` (in proportion to one another, so they need not add up to 100 here; publishing checks that).

    Every amount is a whole number of minor units and they add up to the total exactly. Refuses (a 400) a total
    below the fixed parts, a fixed part in another currency or with more places than `currency` has, and a rest
    that no share could take (only fixed parts, and a total that differs from their sum). No parts: []."""
    fixed = [p.fixed for p in parts if p.fixed is not None]
    if any(p.currency.upper() != currency.upper() for p in parts if p.fixed is not None):
        raise FixedCurrencyMismatch(_("The fixed payments of this workflow are in %(fixed)s, not %(currency)s.") % {
            "fixed": ", ".join(sorted({p.currency.upper() for p in parts if p.fixed is not None})),
            "currency": currency})
    if any(not whole_minor_units(f, currency) or f < 0 for f in fixed):
        raise ValueError("fixed parts must be non-negative whole minor units of the currency")
    total = quantize(total, currency)
    fixed_total = quantize(sum(fixed, Decimal(0)), currency)
    words = {"total": total, "fixed": fixed_total, "currency": currency}
    rest = total - fixed_total
    if rest < 0:
        raise TotalBelowFixed(_("The total %(total)s %(currency)s is less than the fixed payments of this workflow "
                                "(%(fixed)s %(currency)s together).") % words, fixed_total=str(fixed_total))
    shares = [p.share for p in parts if p.fixed is None]
    if fixed and not shares and rest:
        raise DomainError(_("This workflow's payments are all fixed amounts (%(fixed)s %(currency)s together): "
                            "the total must be that amount.") % words,
                          code="total_differs_from_fixed_payments", fixed_total=str(fixed_total))
    split = iter(allocate(rest, shares, currency))
    return [quantize(p.fixed, currency) if p.fixed is not None else next(split) for p in parts]
