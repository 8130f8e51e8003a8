"""Refunds (partial, capped), cancellation by the template's rule, and the ledger agreeing with
the installments."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import Conflict
from payments.models import Installment, LedgerEntry, Payment, Refund
from payments.selectors import order_money_summary
from payments.services import installment_pay, payment_refund, sandbox_checkout_complete
from tests.factories.payments import pay_due_installments
from tests.payments.helpers import deliver_capture, do_onsite_stage, fire, inst_of, two_attempts
from workflows import services as wf
from workflows.models import OrderEvent, ServiceOrder


def test_refunds_never_exceed_captured(order, store_manager):
    payment = pay_due_installments(order)[0]

    payment_refund(payment=payment, amount="700.00", actor=store_manager)
    with pytest.raises(Conflict):
        payment_refund(payment=payment, amount="500.01", actor=store_manager)
    payment_refund(payment=payment, amount="500.00", actor=store_manager)
    with pytest.raises(Exception) as exc:
        payment_refund(payment=payment, amount="0.01", actor=store_manager)
    assert getattr(exc.value, "status_code", None) == 409

    assert Payment.objects.get(pk=payment.pk).status == "refunded"
    assert inst_of(order, "booking").state == "refunded"
    assert order_money_summary(order).refunded == Decimal("1200.00")
    # the sandbox answers synchronously AND sends a refund webhook: each refund is settled once
    assert LedgerEntry.objects.filter(order=order, kind="refund").count() == 2
    assert OrderEvent.objects.filter(order=order, kind="payment.refunded").count() == 2


def _cancel(order, actor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        wf.order_cancel(order=order, actor=actor, reason="changed my mind")
    return ServiceOrder.objects.get(pk=order.pk)


def test_cancel_before_anything_started_refunds_the_deposit(order, store_manager, django_capture_on_commit_callbacks):
    pay_due_installments(order)  # deposit paid, booking done (passive: never started)

    order = _cancel(order, store_manager, django_capture_on_commit_callbacks)

    assert order.state == "cancelled"
    states = dict(Installment.objects.filter(order=order).values_list("stage__definition__code", "state"))
    assert states == {"booking": "refunded", "design": "cancelled", "installation": "cancelled",
                      "acceptance": "cancelled"}
    s = order_money_summary(order)
    assert (s.paid, s.refunded, s.outstanding) == (Decimal("1200.00"), Decimal("1200.00"), Decimal("0.00"))
    assert OrderEvent.objects.filter(order=order, kind="installments.cancelled").count() == 1
    assert OrderEvent.objects.filter(order=order, kind="payment.refunded").count() == 1


def test_cancel_keeps_money_of_started_or_non_refundable_stages(
        order, consumer, store_manager, django_capture_on_commit_callbacks):
    pay_due_installments(order)
    order = do_onsite_stage(order, store_manager)
    order = fire(order, "complete", store_manager)
    order = fire(order, "approve", consumer)
    pay_due_installments(order)  # design (after, refundable, started) + installation (before, not refundable)
    assert order.state == "installation:ready"

    order = _cancel(order, store_manager, django_capture_on_commit_callbacks)

    states = dict(Installment.objects.filter(order=order).values_list("stage__definition__code", "state"))
    # booking: the deposit pays for the work after it, and measuring was done -> kept (it was refunded
    # while "started" ignored the work that followed a passive stage); design started -> kept;
    # installation not refundable by the template -> kept; acceptance unpaid -> cancelled
    assert states == {"booking": "paid", "design": "paid", "installation": "paid", "acceptance": "cancelled"}
    s = order_money_summary(order)
    assert (s.paid, s.refunded, s.outstanding) == (Decimal("10800.00"), Decimal("0.00"), Decimal("0.00"))


def test_cancel_in_closing_keeps_the_money_of_the_delivered_work(
        order, consumer, store_manager, django_capture_on_commit_callbacks):
    for _ in ("measuring and design", "installation and acceptance"):
        pay_due_installments(order)
        order = do_onsite_stage(order, store_manager)
        order = fire(order, "complete", store_manager)
        order = fire(order, "approve", consumer)
    assert order.state == "closing"  # everything delivered, the last 1200 due

    order = _cancel(order, consumer, django_capture_on_commit_callbacks)  # instead of paying it

    assert inst_of(order, "booking").state == "paid"
    assert inst_of(order, "acceptance").state == "cancelled"
    assert order_money_summary(order).refunded == Decimal("0.00")


OFF_SITE = {
    "name": "Made to order",
    "stages": [
        # production: a checklist, but no visit and no approval: staff complete it from ready
        {"code": "production", "name": "Production", "checklist": ["Cut", "Assembled"],
         "payment_share": Decimal("60"), "payment_timing": "before", "refundable_on_cancel": True},
        {"code": "handover", "name": "Handover", "requires_approval": True,
         "payment_share": Decimal("40"), "payment_timing": "before", "refundable_on_cancel": True},
    ],
}


def test_cancel_keeps_the_money_of_off_site_work_completed_from_ready(
        store, consumer, store_manager, django_capture_on_commit_callbacks):
    from tests.factories.workflows import make_order, stage_of

    order = make_order(store=store, consumer=consumer, definition=OFF_SITE, total=Decimal("10000.00"))
    pay_due_installments(order)
    wf.stage_submit(stage=stage_of(order, "production"), actor=store_manager, notes="made")  # POST .../submit/
    production = stage_of(order, "production")
    assert production.state == "done" and production.started_at is None and production.submitted_at is None

    order = _cancel(order, consumer, django_capture_on_commit_callbacks)

    assert inst_of(order, "production").state == "paid"
    assert order_money_summary(order).refunded == Decimal("0.00")


@pytest.mark.parametrize("visit_done, refunded", [(False, Decimal("8000.00")), (True, Decimal("0.00"))])
def test_large_appliance_payment_is_refundable_until_the_delivery_begins(
        store, consumer, store_manager, django_capture_on_commit_callbacks, visit_done, refunded):
    from tests.factories.workflows import make_order
    from workflows.reference import LARGE_APPLIANCE

    order = make_order(store=store, consumer=consumer, definition=LARGE_APPLIANCE, total=Decimal("8000.00"))
    pay_due_installments(order)  # the passive "payment" stage: 100% up front
    order = fire(order, "book", store_manager)
    if visit_done:
        order = fire(order, "start", store_manager)
        order = fire(order, "complete", store_manager)  # delivered and installed

    order = _cancel(order, consumer, django_capture_on_commit_callbacks)

    assert order_money_summary(order).refunded == refunded
    assert inst_of(order, "payment").state == ("paid" if visit_done else "refunded")


def test_cancel_closes_the_open_attempt_and_a_late_capture_is_sent_back(
        order, consumer, store_manager, django_capture_on_commit_callbacks):
    payment = installment_pay(installment=inst_of(order, "booking"), actor=consumer).payment
    order = _cancel(order, store_manager, django_capture_on_commit_callbacks)
    assert Payment.objects.get(pk=payment.pk).status == "cancelled"

    # the consumer had the checkout open and the provider still reports the money
    from payments.providers import sandbox
    from payments.providers.base import PAYMENT_SUCCEEDED
    from payments.services import webhook_receive

    headers, body = sandbox.build_webhook(PAYMENT_SUCCEEDED, sandbox.payment_event_data(payment))
    with django_capture_on_commit_callbacks(execute=True):
        webhook_receive(provider="sandbox", headers=headers, raw_body=body)

    assert Payment.objects.get(pk=payment.pk).status == "refunded"
    assert inst_of(order, "booking").state == "cancelled"
    s = order_money_summary(order)
    assert (s.paid, s.refunded, s.outstanding) == (Decimal("1200.00"), Decimal("1200.00"), Decimal("0.00"))


def _expected(order):
    """The figures the summary must show, from the payments and refunds themselves (not the ledger)."""
    insts = list(Installment.objects.filter(order=order))
    captured = Payment.objects.filter(order=order, status__in=Payment.CAPTURED_STATUSES)
    paid = sum((p.amount for p in captured), Decimal(0))
    open_ = sum((i.amount for i in insts if i.state in Installment.OPEN_STATES), Decimal(0))
    refunded = sum((r.amount for r in Refund.objects.filter(payment__order=order, status="succeeded")), Decimal(0))
    return insts, paid, open_, refunded


def _kept(inst) -> Decimal:
    charged = sum((p.amount for p in inst.payments.filter(status__in=Payment.CAPTURED_STATUSES)), Decimal(0))
    back = sum((r.amount for r in Refund.objects.filter(payment__installment=inst, status="succeeded")), Decimal(0))
    return charged - back


def _pay_twice(inst, consumer, on_commit, *, sent_back: bool):
    """A's money arrives after A expired and B was opened, then B's money too (a double payment).
    Without sent_back, the task that sends B's money back never runs (the broker lost it)."""
    a, b = two_attempts(inst, consumer)
    deliver_capture(a)
    with on_commit(execute=sent_back):
        deliver_capture(b)


@given(steps=st.lists(st.sampled_from(["pay", "fail", "pay_twice", "pay_twice_unrefunded", "refund_part",
                                       "refund_all", "cancel"]), max_size=6),
       total=st.integers(min_value=1, max_value=10**8))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_ledger_summary_always_agrees_with_installments(store, consumer, store_manager, steps, total,
                                                        django_capture_on_commit_callbacks):
    from tests.factories.workflows import make_order

    order = make_order(store=store, consumer=consumer, total=Decimal(total) / 100)
    for step in steps:
        order = ServiceOrder.objects.get(pk=order.pk)
        inst = Installment.objects.filter(order=order, state__in=Installment.PAYABLE_STATES).first()
        if step in ("pay", "fail"):
            if inst:
                payment = installment_pay(installment=inst, actor=consumer).payment
                sandbox_checkout_complete(payment=payment, outcome="paid" if step == "pay" else "failed")
        elif step.startswith("pay_twice"):
            if inst:
                _pay_twice(inst, consumer, django_capture_on_commit_callbacks, sent_back=step == "pay_twice")
        elif step.startswith("refund"):
            payment = Payment.objects.filter(order=order, status__in=["captured", "partially_refunded"]).first()
            if payment:
                left = payment.amount - sum(r.amount for r in payment.refunds.exclude(status="failed"))
                amount = left if step == "refund_all" else (left / 2).quantize(Decimal("0.01"))
                if amount > 0:
                    payment_refund(payment=payment, amount=amount, actor=store_manager)
        elif step == "cancel" and not order.is_final:
            _cancel(order, store_manager, django_capture_on_commit_callbacks)

        s = order_money_summary(order)
        insts, paid, open_, refunded = _expected(order)
        assert s.paid == paid
        # a second capture of one installment is not money towards the others
        assert s.outstanding == open_
        assert s.refunded == refunded
        assert s.paid - s.refunded >= 0
        for i in insts:
            kept = _kept(i)
            if i.state == "paid":
                assert kept >= i.amount, (i.state, kept)
            elif i.state == "partially_refunded":
                assert 0 < kept < i.amount, (i.state, kept)
            else:
                assert kept == 0, (i.state, kept)
        # nothing settled is left with a checkout that still takes money
        assert not Payment.objects.filter(order=order, status__in=Payment.OPEN_STATUSES) \
            .exclude(installment__state="processing").exists()
