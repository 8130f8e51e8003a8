from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.money import allocate, minor_unit, quantize
from payments.models import Installment
from tests.factories.workflows import make_order

CURRENCIES = ["CNY", "USD", "JPY", "KRW"]


@st.composite
def totals_and_shares(draw):
    currency = draw(st.sampled_from(CURRENCIES))
    unit = minor_unit(currency)
    units = draw(st.integers(min_value=0, max_value=10**11))
    shares = draw(st.lists(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100"), places=2),
                           min_size=1, max_size=12))
    return (Decimal(units) * unit).quantize(unit), shares, currency


@given(totals_and_shares())
@settings(max_examples=400, deadline=None)
def test_allocate_parts_add_up_exactly_and_stay_within_one_minor_unit(case):
    total, shares, currency = case
    unit = minor_unit(currency)
    parts = allocate(total, shares, currency)

    assert len(parts) == len(shares)
    assert sum(parts, Decimal(0)) == total
    share_sum = sum(shares, Decimal(0))
    for part, share in zip(parts, shares, strict=True):
        assert part >= 0
        assert part == quantize(part, currency)  # a whole number of minor units
        exact = total * share / share_sum
        assert abs(part - exact) < unit


def test_reference_order_gets_one_installment_per_paying_stage(store, consumer):
    order = make_order(store=store, consumer=consumer, total=Decimal("12000.00"))

    rows = list(Installment.objects.filter(order=order).order_by("position")
                .values_list("stage__definition__code", "timing", "amount", "refundable", "state"))
    assert rows == [
        ("booking", "before", Decimal("1200.00"), True, "due"),
        ("design", "after", Decimal("3600.00"), True, "scheduled"),
        ("installation", "before", Decimal("6000.00"), False, "scheduled"),
        ("acceptance", "after", Decimal("1200.00"), False, "scheduled"),
    ]
    assert order.state == "booking:waiting_payment"


@pytest.mark.parametrize("total, currency, expected", [
    (Decimal("10001"), "JPY", [Decimal("1000"), Decimal("3000"), Decimal("5001"), Decimal("1000")]),
    (Decimal("0.03"), "CNY", [Decimal("0.00"), Decimal("0.01"), Decimal("0.02"), Decimal("0.00")]),
])
def test_odd_totals_split_exactly(store, consumer, total, currency, expected):
    order = make_order(store=store, consumer=consumer, total=total, currency=currency)

    amounts = list(Installment.objects.filter(order=order).order_by("position").values_list("amount", flat=True))
    assert amounts == expected
    assert sum(amounts) == total


def test_zero_installment_is_waived_and_does_not_block(store, consumer):
    # 0.03 CNY: the 10% booking share rounds to 0.00, so nothing stands before the first stage.
    order = make_order(store=store, consumer=consumer, total=Decimal("0.03"))

    booking = Installment.objects.get(order=order, stage__definition__code="booking")
    assert booking.state == Installment.State.WAIVED
    order.refresh_from_db()
    assert order.state == "measuring:ready"
