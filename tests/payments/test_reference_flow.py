"""The reference wardrobe (12,000.00 CNY) pays 1,200 + 3,600 + 6,000 + 1,200 through sandbox webhooks."""

from decimal import Decimal

import pytest

from payments.models import Installment, LedgerEntry
from payments.plugin import serialize_installments, serialize_money
from payments.selectors import order_money_summary
from tests.factories.payments import pay_due_installments
from tests.payments.helpers import do_onsite_stage, fire
from workflows.models import OrderEvent, ServiceOrder
from workflows.selectors import order_detail_load


def _summary(order):
    s = order_money_summary(order)
    return s.paid, s.outstanding, s.refunded


def test_reference_flow_pays_every_installment_as_the_order_progresses(order, consumer, store_manager):
    # given: a fresh order waits for the 10% deposit
    assert order.state == "booking:waiting_payment"
    assert _summary(order) == (Decimal("0"), Decimal("12000.00"), Decimal("0"))

    # when: the consumer pays the deposit, the booking stage completes by itself
    paid = pay_due_installments(order)
    assert [p.amount for p in paid] == [Decimal("1200.00")]
    assert order.state == "measuring:ready"
    assert _summary(order) == (Decimal("1200.00"), Decimal("10800.00"), Decimal("0"))

    # measuring on site, then the design is delivered and approved: 30% after design + 50% before installation
    order = do_onsite_stage(order, store_manager)
    assert order.state == "design:ready"
    order = fire(order, "complete", store_manager)
    order = fire(order, "approve", consumer)
    assert order.state == "installation:waiting_payment"
    due = set(Installment.objects.filter(order=order, state="due").values_list("amount", flat=True))
    assert due == {Decimal("3600.00"), Decimal("6000.00")}

    paid = pay_due_installments(order)
    assert sorted(p.amount for p in paid) == [Decimal("3600.00"), Decimal("6000.00")]
    assert order.state == "installation:ready"

    order = do_onsite_stage(order, store_manager)
    assert order.state == "acceptance:ready"
    order = fire(order, "complete", store_manager)
    order = fire(order, "approve", consumer)
    assert order.state == "closing"
    assert _summary(order) == (Decimal("10800.00"), Decimal("1200.00"), Decimal("0"))

    paid = pay_due_installments(order)
    assert [p.amount for p in paid] == [Decimal("1200.00")]

    # then: the order settles by itself; paid == total, nothing outstanding
    order = ServiceOrder.objects.get(pk=order.pk)
    assert order.state == "completed"
    assert _summary(order) == (Decimal("12000.00"), Decimal("0"), Decimal("0"))
    assert LedgerEntry.objects.filter(order=order, kind="charge").count() == 4
    assert OrderEvent.objects.filter(order=order, kind="payment.captured").count() == 4
    assert set(Installment.objects.filter(order=order).values_list("state", flat=True)) == {"paid"}


@pytest.mark.usefixtures("english")
def test_unpaid_installment_blocks_the_stage(order):
    from core.errors import GuardFailed
    from workflows import engine

    try:
        engine.fire(order_id=order.pk, trigger="unblock", actor=None)
    except GuardFailed as exc:
        assert "CN¥1,200.00" in exc.detail  # the amount as CLDR writes it in English
    else:  # pragma: no cover
        raise AssertionError("unblock passed without payment")


def test_order_sections_read_loaded_rows_only(store, consumer, store_manager, django_assert_num_queries):
    from tests.factories.workflows import make_order

    orders = [make_order(store=store, consumer=consumer, actor=store_manager) for _ in range(3)]
    for o in orders[:2]:
        pay_due_installments(o)

    def detail(n_orders):
        qs = order_detail_load(ServiceOrder.objects.filter(pk__in=[o.pk for o in orders[:n_orders]]))
        with django_assert_num_queries(0):
            return [(serialize_installments(o), serialize_money(o)) for o in qs]

    # orders, the workflow's stages (with files and visits) and events, installments (with the ledger), vouchers,
    # the brands' payment accounts (payment_channels: orders read without order_detail_queryset's annotations)
    with django_assert_num_queries(6):
        detail(1)
    with django_assert_num_queries(6):
        rows = detail(3)
    for o in order_detail_load(ServiceOrder.objects.filter(pk__in=[o.pk for o in orders])):
        assert serialize_money(o) == order_money_summary(o.order).as_dict()
        assert [i["stage_code"] for i in serialize_installments(o)] == [
            "booking", "design", "installation", "acceptance"]
    assert sorted(r[1]["paid"] for r in rows) == ["0.00", "1200.00", "1200.00"]
