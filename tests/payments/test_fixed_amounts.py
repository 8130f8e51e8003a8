"""Fixed-amount payments (a 500 CNY booking deposit): the fixed amounts are taken first, the shares split the rest;
the installments add up to the order's total exactly, in every currency."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import DomainError
from core.money import FixedCurrencyMismatch, Part, TotalBelowFixed, allocate, allocate_with_fixed, minor_unit, quantize
from payments.models import Installment
from tests.factories.workflows import make_order, make_template
from workflows.models import ServiceOrder

CURRENCIES = ["CNY", "USD", "JPY", "KRW"]

DEPOSIT_THEN_SHARES = {
    "name": "Wardrobe with a booking deposit",
    "stages": [
        {"code": "booking", "name": "Booking", "payment_amount": Decimal("500"), "payment_timing": "before"},
        {"code": "design", "name": "Design", "payment_share": Decimal("40"), "payment_timing": "after"},
        {"code": "installation", "name": "Installation", "payment_share": Decimal("60"), "payment_timing": "before",
         "refundable_on_cancel": False},
    ],
}


@st.composite
def totals_and_parts(draw):
    """A currency, parts in any order (0 to 4 fixed amounts, at least one share), and a total at least the fixed
    amounts' sum."""
    currency = draw(st.sampled_from(CURRENCIES))
    unit = minor_unit(currency)
    fixed_units = draw(st.lists(st.integers(min_value=1, max_value=10**9), max_size=4))
    shares = draw(st.lists(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100"), places=2),
                           min_size=1, max_size=8))
    parts = [Part(fixed=(Decimal(u) * unit).quantize(unit), currency=currency) for u in fixed_units]
    parts += [Part(share=s) for s in shares]
    parts = draw(st.permutations(parts))
    rest_units = draw(st.integers(min_value=0, max_value=10**11))
    total = (Decimal(sum(fixed_units) + rest_units) * unit).quantize(unit)
    return total, list(parts), currency


@given(totals_and_parts())
@settings(max_examples=400, deadline=None)
def test_fixed_amounts_are_exact_and_the_shares_split_the_rest_exactly(case):
    total, parts, currency = case
    unit = minor_unit(currency)
    amounts = allocate_with_fixed(total, parts, currency)

    assert len(amounts) == len(parts)
    assert sum(amounts, Decimal(0)) == total
    rest = total - sum((p.fixed for p in parts if p.fixed is not None), Decimal(0))
    share_sum = sum((p.share for p in parts if p.share is not None), Decimal(0))
    for part, amount in zip(parts, amounts, strict=True):
        assert amount >= 0
        assert amount == quantize(amount, currency)  # a whole number of minor units
        if part.fixed is not None:
            assert amount == part.fixed
        else:
            assert abs(amount - rest * part.share / share_sum) < unit


@given(totals_and_parts())
@settings(max_examples=100, deadline=None)
def test_shares_alone_split_as_allocate_does(case):
    total, parts, currency = case
    shares = [p.share for p in parts if p.share is not None]
    assert allocate_with_fixed(total, [Part(share=s) for s in shares], currency) == allocate(total, shares, currency)


@given(st.sampled_from(CURRENCIES), st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=4),
       st.integers(min_value=1, max_value=10**6))
@settings(max_examples=100, deadline=None)
def test_a_total_below_the_fixed_amounts_is_refused(currency, fixed_units, short_by):
    unit = minor_unit(currency)
    parts = [Part(fixed=Decimal(u) * unit, currency=currency) for u in fixed_units] + [Part(share=Decimal(100))]
    total = Decimal(sum(fixed_units) - short_by) * unit
    with pytest.raises(TotalBelowFixed) as refused:
        allocate_with_fixed(total, parts, currency)
    assert refused.value.status_code == 400 and refused.value.code == "total_below_fixed_payments"


def test_only_fixed_amounts_split_only_their_own_sum():
    parts = [Part(fixed=Decimal("500"), currency="CNY"), Part(fixed=Decimal("1500.50"), currency="CNY")]
    assert allocate_with_fixed(Decimal("2000.50"), parts, "CNY") == [Decimal("500.00"), Decimal("1500.50")]
    with pytest.raises(DomainError) as refused:
        allocate_with_fixed(Decimal("2000.51"), parts, "CNY")
    assert refused.value.code == "total_differs_from_fixed_payments"


def test_fixed_amounts_in_another_currency_are_refused():
    with pytest.raises(FixedCurrencyMismatch):
        allocate_with_fixed(Decimal("10000"), [Part(fixed=Decimal("500"), currency="CNY"), Part(share=Decimal(100))],
                            "JPY")


def _installments(order):
    return list(Installment.objects.filter(order=order).order_by("position")
                .values_list("stage__definition__code", "timing", "amount", "refundable", "state"))


def test_an_order_with_a_deposit_takes_it_first_and_splits_the_rest_by_shares(store, consumer):
    order = make_order(store=store, consumer=consumer, total=Decimal("12000.00"), definition=DEPOSIT_THEN_SHARES)

    assert _installments(order) == [
        ("booking", "before", Decimal("500.00"), True, "due"),
        ("design", "after", Decimal("4600.00"), True, "scheduled"),
        ("installation", "before", Decimal("6900.00"), False, "scheduled"),
    ]
    assert order.state == "booking:waiting_payment"


def test_a_total_equal_to_the_deposit_leaves_nothing_for_the_shares(store, consumer):
    order = make_order(store=store, consumer=consumer, total=Decimal("500"), definition=DEPOSIT_THEN_SHARES)

    amounts = [row[2] for row in _installments(order)]
    assert amounts == [Decimal("500.00"), Decimal("0.00"), Decimal("0.00")]


@pytest.mark.usefixtures("english")
def test_an_order_below_the_deposit_is_refused_and_nothing_is_written(store, consumer):
    template = make_template(merchant=store.merchant, stores=[store], definition=DEPOSIT_THEN_SHARES)
    with pytest.raises(TotalBelowFixed) as refused:
        make_order(store=store, consumer=consumer, template=template, total=Decimal("499.99"))
    assert "499.99 CNY is less than the fixed payments" in refused.value.detail
    with pytest.raises(FixedCurrencyMismatch):
        make_order(store=store, consumer=consumer, template=template, total=Decimal("12000"), currency="JPY")
    assert not ServiceOrder.objects.exists() and not Installment.objects.exists()
