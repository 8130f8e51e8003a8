"""A provider or a broker that is down never loses a refund: the refund stays pending, the API says so,
and a retry or the periodic resubmission sends it when the provider answers again."""

import itertools
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
import time_machine
from django.utils import timezone

from payments.models import Payment, Refund
from payments.providers.base import ProviderUnavailable
from payments.providers.sandbox import SandboxProvider
from payments.services import payment_refund, payment_refund_unowed
from payments.tasks import refund_submit_task, refund_unowed_payment_task, refunds_resubmit_stale_task
from tests.factories.payments import pay_due_installments
from tests.payments.helpers import deliver_capture, inst_of, two_attempts


@pytest.fixture
def provider(monkeypatch):
    """The sandbox's refund API, down until `provider.up = True`; `provider.calls` counts the attempts."""
    state = SimpleNamespace(up=False, calls=0)
    real = SandboxProvider.refund

    def refund(self, payment, amount, refund):
        state.calls += 1
        if not state.up:
            raise ProviderUnavailable("timeout")
        return real(self, payment, amount, refund)

    monkeypatch.setattr(SandboxProvider, "refund", refund)
    return state


class _Queue:
    """Stands for the broker: records what was queued, runs nothing."""

    def __init__(self, fail: bool = False):
        self.ids: list[int] = []
        self.fail = fail

    def delay(self, *args):
        if self.fail:
            raise OSError("broker down")
        self.ids.append(args[0])


@pytest.fixture
def queued(monkeypatch):
    queue = _Queue()
    monkeypatch.setattr("payments.tasks.refund_submit_task", queue)
    return queue.ids


def age(refund_or_payment, minutes=10):
    """Make a refund (by created_at) or a capture (by captured_at) older than the resubmission delay."""
    then = timezone.now() - timedelta(minutes=minutes)
    if isinstance(refund_or_payment, Refund):  # made, last asked of the provider, and due again, then
        Refund.objects.filter(pk=refund_or_payment.pk).update(created_at=then, last_sent_at=then, next_send_at=then)
    else:
        Payment.objects.filter(pk=refund_or_payment.pk).update(captured_at=then)


def test_refund_while_the_provider_is_down_answers_202_pending_and_is_queued(
        client_for, order, store_manager, provider, queued, django_capture_on_commit_callbacks):
    payment = pay_due_installments(order)[0]
    url = f"/api/v1/payments/{payment.pk}/refund/"

    with django_capture_on_commit_callbacks(execute=True):
        r = client_for(store_manager).post(url, {"amount": "1200.00", "reason": "goodwill"}, format="json")

    assert r.status_code == 202, r.content
    assert (r.json()["status"], r.json()["amount"]) == ("pending", "1200.00")
    refund = Refund.objects.get()
    assert queued == [refund.pk]
    # it counts against what is refundable meanwhile: a second request cannot refund it twice
    again = client_for(store_manager).post(url, {"amount": "0.01"}, format="json")
    assert again.status_code == 409 and again.json()["refundable"] == "0.00"

    provider.up = True
    assert refund_submit_task.apply(args=[refund.pk]).get() == "succeeded"
    assert Payment.objects.get(pk=payment.pk).status == "refunded"
    assert inst_of(order, "booking").state == "refunded"


def test_a_retry_of_the_unowed_refund_sends_the_refund_it_left_pending(order, consumer, provider):
    a, b = two_attempts(inst_of(order, "booking"), consumer)
    deliver_capture(a)
    deliver_capture(b)  # a double payment: B goes back (its task is run by hand below)
    with pytest.raises(ProviderUnavailable):
        payment_refund_unowed(payment_id=b.pk)  # the task's first try
    assert Refund.objects.get().status == "pending"

    provider.up = True
    assert refund_unowed_payment_task.apply(args=[b.pk]).get() == "succeeded"  # the task's retry

    assert Refund.objects.get().status == "succeeded"  # the same refund, not a second one
    assert Payment.objects.get(pk=b.pk).status == "refunded"
    assert inst_of(order, "booking").state == "paid"


def test_periodic_resubmission_sends_refunds_left_pending(order, store_manager, provider, queued):
    payment = pay_due_installments(order)[0]
    first = payment_refund(payment=payment, amount="200.00", actor=store_manager)
    second = payment_refund(payment=payment, amount="300.00", actor=store_manager)
    assert (first.status, second.status) == ("pending", "pending")

    age(first)
    age(second)
    calls = provider.calls
    assert refunds_resubmit_stale_task() == 0  # still down: asked once this run, not once per refund
    assert provider.calls == calls + 1

    provider.up = True
    third = payment_refund(payment=payment, amount="100.00", actor=store_manager)
    assert third.status == "succeeded"
    age(first)  # the next run, minutes later
    age(second)
    assert refunds_resubmit_stale_task() == 2
    assert set(Refund.objects.values_list("status", flat=True)) == {"succeeded"}
    assert Payment.objects.get(pk=payment.pk).status == "partially_refunded"
    assert refunds_resubmit_stale_task() == 0


def test_a_refund_just_queued_is_left_to_its_task(order, store_manager, provider, queued):
    payment = pay_due_installments(order)[0]
    payment_refund(payment=payment, amount="200.00", actor=store_manager)
    provider.up = True

    assert refunds_resubmit_stale_task() == 0
    assert Refund.objects.get().status == "pending"


def test_periodic_resubmission_sends_back_a_double_payment_whose_task_was_lost(order, consumer):
    a, b = two_attempts(inst_of(order, "booking"), consumer)
    deliver_capture(a)
    deliver_capture(b)  # its refund_unowed_payment_task was never queued (on_commit not run: broker lost)
    age(a)
    age(b)

    assert refunds_resubmit_stale_task() == 1

    assert Payment.objects.get(pk=a.pk).status == "captured"  # the installment's own payment is kept
    assert Payment.objects.get(pk=b.pk).status == "refunded"
    assert refunds_resubmit_stale_task() == 0


def test_cancel_while_the_broker_is_down_succeeds_and_the_refund_is_sent_later(
        client_for, order, store_manager, monkeypatch, django_capture_on_commit_callbacks):
    pay_due_installments(order)
    monkeypatch.setattr("payments.tasks.refund_submit_task", _Queue(fail=True))

    with django_capture_on_commit_callbacks(execute=True):
        r = client_for(store_manager).post(f"/api/v1/orders/{order.pk}/cancel/", {"reason": "moving"}, format="json")

    assert r.status_code == 200, r.content
    refund = Refund.objects.get()
    assert refund.status == "pending"
    monkeypatch.undo()  # the broker is back (and the sandbox provider answers)
    age(refund)
    assert refunds_resubmit_stale_task() == 1
    assert Refund.objects.get().status == "succeeded"
    assert inst_of(order, "booking").state == "refunded"
    assert sum(Refund.objects.values_list("amount", flat=True)) == Decimal("1200.00")


def test_resubmission_asks_the_longest_due_first(order, store_manager, provider, queued, monkeypatch):
    """A refund the provider keeps answering "pending" for is asked again, but behind the ones that have waited
    longer: with a batch of one, the next run takes the other refund, then comes back to the first."""
    from payments import services

    payment = pay_due_installments(order)[0]
    first = payment_refund(payment=payment, amount="200.00", actor=store_manager)
    second = payment_refund(payment=payment, amount="300.00", actor=store_manager)
    age(first, minutes=30)
    age(second, minutes=20)
    asked = []
    monkeypatch.setattr(SandboxProvider, "refund",
                        lambda self, payment, amount, refund: asked.append(refund.pk) or
                        SimpleNamespace(status="pending", provider_refund_id=""))
    real = services.refunds_resubmit_stale

    def run():
        return real(older_than=timedelta(minutes=5), limit=1)

    def due_again(refund):
        Refund.objects.filter(pk=refund.pk).update(next_send_at=timezone.now() - timedelta(minutes=1))

    run()
    due_again(first)
    run()
    due_again(second)
    run()
    assert asked == [first.pk, second.pk, first.pk]
    run()  # the second, due a moment after the first
    assert asked == [first.pk, second.pk, first.pk, second.pk]
    assert run() == 0  # both were just asked: neither is due again yet


def test_a_refund_the_provider_never_confirms_is_asked_ever_more_rarely(order, store_manager, queued, monkeypatch,
                                                                         settings):
    """Asked every run, a refund the provider never confirms would be sent 288 times a day: the delay doubles
    from REFUND_RESUBMIT_AFTER_MINUTES with each ask, up to REFUND_RESUBMIT_MAX_MINUTES."""
    settings.REFUND_RESUBMIT_AFTER_MINUTES = 5
    settings.REFUND_RESUBMIT_MAX_MINUTES = 360
    payment = pay_due_installments(order)[0]
    asked = []
    monkeypatch.setattr(SandboxProvider, "refund",
                        lambda self, payment, amount, refund: asked.append(timezone.now()) or
                        SimpleNamespace(status="pending", provider_refund_id=""))
    with time_machine.travel(timezone.now(), tick=False) as clock:
        refund = payment_refund(payment=payment, amount="200.00", actor=store_manager)  # asked at once
        for _ in range(24 * 12):  # a day of the beat's runs, 5 minutes apart
            clock.shift(timedelta(minutes=5))
            refunds_resubmit_stale_task()

    refund.refresh_from_db()
    gaps = [round((b - a).total_seconds() / 60) for a, b in itertools.pairwise(asked)]
    assert gaps == [5, 10, 20, 40, 80, 160, 320, 360, 360]
    assert (refund.status, refund.pending_answers, refund.last_sent_at) == ("pending", len(asked), asked[-1])
    assert refund.next_send_at - refund.last_sent_at == timedelta(minutes=360)


def test_refunds_asked_while_the_provider_is_down_go_as_soon_as_it_is_back(order, store_manager, provider, queued,
                                                                           settings):
    """No answer is not a "pending" answer: two hours of outage do not push the refunds back, and the first run
    after the provider returns sends them all."""
    settings.REFUND_RESUBMIT_AFTER_MINUTES = 5
    payment = pay_due_installments(order)[0]
    with time_machine.travel(timezone.now(), tick=False) as clock:
        refunds = [payment_refund(payment=payment, amount=amount, actor=store_manager)
                   for amount in ("200.00", "300.00")]
        for _ in range(24):  # two hours of beat runs, the provider down throughout
            clock.shift(timedelta(minutes=5))
            refunds_resubmit_stale_task()
        asked_while_down = provider.calls
        provider.up = True
        clock.shift(timedelta(minutes=5))
        assert refunds_resubmit_stale_task() == 2

    assert asked_while_down == 2 + 24  # each refund once when made, then one ask per run for the provider
    assert [Refund.objects.get(pk=r.pk).status for r in refunds] == ["succeeded", "succeeded"]
    assert set(Refund.objects.values_list("pending_answers", flat=True)) == {0}


@pytest.mark.usefixtures("english")
def test_a_refund_still_pending_after_a_day_is_told_to_the_store_once(order, store_manager, provider, queued,
                                                                       settings):
    from notifications.models import Notification
    from workflows.models import OrderEvent

    settings.REFUND_STUCK_AFTER_HOURS = 24
    payment = pay_due_installments(order)[0]
    refund = payment_refund(payment=payment, amount="200.00", actor=store_manager)
    age(refund, minutes=23 * 60)
    refunds_resubmit_stale_task()
    assert not OrderEvent.objects.filter(order=order, kind="refund.stuck").exists()

    age(refund, minutes=25 * 60)
    refunds_resubmit_stale_task()
    refunds_resubmit_stale_task()

    event = OrderEvent.objects.get(order=order, kind="refund.stuck")
    assert (event.payload["refund"], event.payload["amount"]) == (refund.pk, "200.00")
    message = Notification.objects.get(event=event, recipient=store_manager, channel="email")
    assert "has not confirmed the refund of CN¥200.00" in message.body and "after 24 hours" in message.body
    assert Refund.objects.get(pk=refund.pk).status == "pending"  # still asked, still counted
