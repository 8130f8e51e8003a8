"""Installments a step makes due together (issue 22, target 2): approving the reference wardrobe's design makes its
own 'after' installment (30 %) and the installation's 'before' one (50 %) due at once. They are marked due in one
statement, recorded as ONE `installment.due` event that lists them (its `amount` their total), and the consumer hears
of them in ONE message (SMS and e-mail) naming the total and each installment; the installation waits for both."""

from decimal import Decimal

import pytest

from demo.builder import Driver
from notifications.models import Notification
from payments.models import Installment
from tests.factories.workflows import make_order
from workflows.models import OrderEvent

pytestmark = pytest.mark.django_db


def at_design_approval(store, consumer, store_manager, technician, total=Decimal("12000.00")):
    order = make_order(store=store, consumer=consumer, total=total, actor=store_manager)
    driver = Driver(order=order, manager=store_manager, technician=technician)
    driver.run_to("design:awaiting_approval")
    return driver


def due_events(order):
    return list(OrderEvent.objects.filter(order=order, kind="installment.due").order_by("seq"))


def test_approving_the_design_makes_both_installments_due_in_one_event(store, consumer, store_manager, technician):
    driver = at_design_approval(store, consumer, store_manager, technician)
    order = driver.order
    before = len(due_events(order))

    driver.step()  # the consumer approves the design

    assert driver.refresh() == "installation:waiting_payment"  # held back by both installments
    design = Installment.objects.get(order=order, stage__definition__code="design")
    installation = Installment.objects.get(order=order, stage__definition__code="installation")
    assert (design.state, installation.state) == ("due", "due")
    assert design.due_at == installation.due_at is not None
    events = due_events(order)
    assert len(events) == before + 1
    event = events[-1]
    assert event.stage_id == installation.stage_id  # the stage waiting for the money
    assert event.payload == {
        "installments": [
            {"installment": design.pk, "stage": design.stage_id, "amount": "3600.00", "timing": "after"},
            {"installment": installation.pk, "stage": installation.stage_id, "amount": "6000.00",
             "timing": "before"},
        ],
        "amount": "9600.00", "currency": "CNY",
    }


def test_the_consumer_hears_of_both_in_one_message_with_the_total_and_each(store, consumer, store_manager,
                                                                          technician):
    driver = at_design_approval(store, consumer, store_manager, technician)
    driver.step()

    event = due_events(driver.order)[-1]
    rows = list(Notification.objects.filter(event=event))
    assert sorted(r.channel for r in rows) == ["email", "sms"]  # one message, on each of the consumer's channels
    sms = next(r for r in rows if r.channel == "sms")
    # Simplified Chinese, the default language: the total due now, then each stage's installment
    assert sms.body.startswith(f"服务订单 {driver.order.number} 现需支付 ¥9,600.00：Design ¥3,600.00，"
                               "Installation on site ¥6,000.00。")


def test_paying_one_of_the_two_does_not_open_the_installation(store, consumer, store_manager, technician):
    driver = at_design_approval(store, consumer, store_manager, technician)
    driver.step()
    from payments.services import installment_pay, sandbox_checkout_complete

    design = Installment.objects.get(order=driver.order, stage__definition__code="design")
    sandbox_checkout_complete(payment=installment_pay(installment=design, actor=consumer).payment, outcome="paid")
    assert driver.refresh() == "installation:waiting_payment"

    driver.pay_due()  # the installation's too
    assert driver.refresh() == "installation:ready"


def test_a_single_installment_due_keeps_its_own_fields_and_words(store, consumer, store_manager):
    order = make_order(store=store, consumer=consumer, actor=store_manager)  # the booking's deposit falls due

    (event,) = due_events(order)
    booking = Installment.objects.get(order=order, stage__definition__code="booking")
    assert event.payload == {
        "installment": booking.pk, "amount": "1200.00", "currency": "CNY", "timing": "before",
        "installments": [{"installment": booking.pk, "stage": booking.stage_id, "amount": "1200.00",
                          "timing": "before"}],
    }
    sms = Notification.objects.get(event=event, channel="sms")
    assert sms.body.startswith(f"服务订单 {order.number} 的Booking有一笔阶段款待支付：¥1,200.00。")


def test_a_zero_installment_is_waived_beside_the_one_falling_due(store, consumer, store_manager, technician):
    # 0.01 CNY: the shares round to 0.00 except the installation's 0.01, so the design's 'after' one is waived
    driver = at_design_approval(store, consumer, store_manager, technician, total=Decimal("0.01"))
    order = driver.order
    design = Installment.objects.get(order=order, stage__definition__code="design")
    installation = Installment.objects.get(order=order, stage__definition__code="installation")
    assert (design.amount, installation.amount) == (Decimal("0.00"), Decimal("0.01"))

    driver.step()

    design.refresh_from_db()
    installation.refresh_from_db()
    assert (design.state, installation.state) == ("waived", "due")
    waived = OrderEvent.objects.filter(order=order, kind="installment.waived").order_by("seq").last()
    assert waived.payload["installment"] == design.pk
    assert due_events(order)[-1].payload["installment"] == installation.pk
    assert driver.refresh() == "installation:waiting_payment"


def test_the_approve_and_the_installments_it_makes_due_are_one_chain_in_order(store, consumer, store_manager,
                                                                             technician):
    """The step's event is written with the `installment.due` its effect records (workflows.engine._fire_locked):
    the approve first, the chain intact, the caller's event with its id."""
    from workflows import engine
    from workflows.events import verify_chain

    driver = at_design_approval(store, consumer, store_manager, technician)
    result = engine.fire(order_id=driver.order.pk, trigger="approve", actor=consumer)

    approve = OrderEvent.objects.get(pk=result.event.pk)
    assert approve.kind == "stage.approve"
    assert due_events(driver.order)[-1].seq == approve.seq + 1
    assert verify_chain(driver.order.pk) is None


@pytest.mark.parametrize("paid", [("design",), ("design", "installation")])
def test_installments_already_settled_are_not_made_due_and_open_the_way(store, consumer, store_manager, technician,
                                                                        paid):
    """The gating installments come with the engine's read of the stages (payments.services.allocation.STAGE_ROWS):
    one already paid is neither made due nor recorded, and the unblock guard counts it as paid."""
    driver = at_design_approval(store, consumer, store_manager, technician)
    order = driver.order
    Installment.objects.filter(order=order, stage__definition__code__in=paid).update(state="paid")
    before = len(due_events(order))

    driver.step()

    states = dict(Installment.objects.filter(order=order, stage__definition__code__in=("design", "installation"))
                  .values_list("stage__definition__code", "state"))
    if paid == ("design",):
        assert states == {"design": "paid", "installation": "due"}
        assert [i["timing"] for i in due_events(order)[-1].payload["installments"]] == ["before"]
        assert driver.refresh() == "installation:waiting_payment"
    else:
        assert states == {"design": "paid", "installation": "paid"}
        assert len(due_events(order)) == before
        assert driver.refresh() == "installation:ready"  # nothing owed: unblocked in the same step


def test_installments_read_with_the_stages_hold_for_that_step_only(store, consumer, store_manager, technician):
    """A later step of the same locked order instance reads the gating installments again: a write in between (here
    the design's installment paid) is seen, not the state the earlier read of the stages brought."""
    from django.db import transaction

    from workflows import engine

    driver = at_design_approval(store, consumer, store_manager, technician)
    with transaction.atomic():
        order = engine.lock_order(driver.order.pk)
        engine.order_stages(order)  # read (with the installments) before the write below
        Installment.objects.filter(order=order, stage__definition__code="design").update(state="paid")
        engine.fire_locked(order, trigger="approve", actor=consumer)

    states = dict(Installment.objects.filter(order=driver.order, stage__definition__code__in=("design", "installation"))
                  .values_list("stage__definition__code", "state"))
    assert states == {"design": "paid", "installation": "due"}
    assert [i["timing"] for i in due_events(driver.order)[-1].payload["installments"]] == ["before"]
