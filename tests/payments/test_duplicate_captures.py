"""Two attempts paid for one installment: an attempt expires, the consumer opens a second one, and the
money of the first arrives late. The installment is paid once; the other money goes back."""

from decimal import Decimal

import pytest

from core.errors import InvalidTransition
from payments.models import Payment
from payments.selectors import order_money_summary
from payments.services import installment_pay, payment_refund, sandbox_checkout_complete
from tests.payments.helpers import deliver_capture, inst_of, two_attempts
from workflows import services as wf
from workflows.models import OrderEvent, ServiceOrder


def capture(payment, on_commit):
    """The capture notification, with what it queues after commit run (the refund of unowed money)."""
    with on_commit(execute=True):
        return deliver_capture(payment)


def status(payment) -> str:
    return Payment.objects.get(pk=payment.pk).status


def test_late_capture_closes_the_other_attempt(order, consumer, django_capture_on_commit_callbacks):
    a, b = two_attempts(inst_of(order, "booking"), consumer)

    assert capture(a, django_capture_on_commit_callbacks) == "captured"

    assert inst_of(order, "booking").state == "paid"
    assert status(b) == "cancelled"
    assert OrderEvent.objects.filter(order=order, kind="payment.cancelled", payload__payment=b.pk).count() == 1
    # the consumer's checkout of B no longer takes money, and nothing else is payable
    with pytest.raises(InvalidTransition):
        sandbox_checkout_complete(payment=Payment.objects.get(pk=b.pk), outcome="paid")
    with pytest.raises(InvalidTransition):
        installment_pay(installment=inst_of(order, "booking"), actor=consumer)


def test_sending_back_the_second_capture_leaves_the_installment_paid(
        order, consumer, store_manager, django_capture_on_commit_callbacks):
    a, b = two_attempts(inst_of(order, "booking"), consumer)
    capture(a, django_capture_on_commit_callbacks)

    # B's money arrives all the same (the provider took it before B was closed): it is sent back
    assert capture(b, django_capture_on_commit_callbacks) == "captured_unowed"

    assert (status(a), status(b)) == ("captured", "refunded")
    assert inst_of(order, "booking").state == "paid"
    s = order_money_summary(ServiceOrder.objects.get(pk=order.pk))
    assert (s.paid, s.refunded) == (Decimal("2400.00"), Decimal("1200.00"))

    # and a cancel still refunds the deposit the consumer paid (the booking stage is refundable)
    with django_capture_on_commit_callbacks(execute=True):
        wf.order_cancel(order=ServiceOrder.objects.get(pk=order.pk), actor=store_manager, reason="moving")
    assert status(a) == "refunded"
    assert inst_of(order, "booking").state == "refunded"
    s = order_money_summary(ServiceOrder.objects.get(pk=order.pk))
    assert s.paid - s.refunded == Decimal("0.00")


def test_installment_state_follows_the_money_kept_for_it(
        order, consumer, store_manager, django_capture_on_commit_callbacks):
    a, b = two_attempts(inst_of(order, "booking"), consumer)
    sandbox_checkout_complete(payment=b, outcome="paid")        # B pays the installment
    payment_refund(payment=Payment.objects.get(pk=b.pk), amount="200.00", actor=store_manager)
    assert inst_of(order, "booking").state == "partially_refunded"

    capture(a, django_capture_on_commit_callbacks)             # A's money arrives late, and goes back

    assert status(a) == "refunded"
    # 1000 of its 1200 is still kept: partially refunded, not refunded
    assert inst_of(order, "booking").state == "partially_refunded"


def test_a_double_payment_does_not_lower_what_is_still_owed(order, consumer, client_for):
    a, b = two_attempts(inst_of(order, "booking"), consumer)
    deliver_capture(a)
    deliver_capture(b)  # B's money is in, and not sent back yet (its task has not run)

    money = client_for(consumer).get(f"/api/v1/orders/{order.pk}/").json()["money"]

    # 12000 owed, 1200 of it paid for the booking: the second 1200 pays nothing else
    assert (money["paid"], money["outstanding"]) == ("2400.00", "10800.00")
    assert order_money_summary(order).outstanding == Decimal("10800.00")
