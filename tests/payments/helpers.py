"""Shared steps for the payments tests."""

from payments.models import Installment, Payment
from payments.providers import sandbox
from payments.providers.base import PAYMENT_SUCCEEDED
from payments.services import installment_pay, payment_expire, webhook_receive
from workflows import engine
from workflows.models import ServiceOrder


def inst_of(order, code: str, timing: str | None = None) -> Installment:
    qs = Installment.objects.filter(order=order, stage__definition__code=code)
    if timing:
        qs = qs.filter(timing=timing)
    return qs.get()


def fire(order, trigger: str, actor) -> ServiceOrder:
    engine.fire(order_id=order.pk, trigger=trigger, actor=actor)
    return ServiceOrder.objects.get(pk=order.pk)


def do_onsite_stage(order, staff) -> ServiceOrder:
    """An appointment stage, driven as store staff: book, start, complete."""
    for trigger in ("book", "start", "complete"):
        order = fire(order, trigger, staff)
    return order


def two_attempts(installment, consumer) -> tuple[Payment, Payment]:
    """Attempt A expired unpaid, attempt B is open: the installment is being paid by B."""
    a = installment_pay(installment=installment, actor=consumer).payment
    payment_expire(payment_id=a.pk)
    b = installment_pay(installment=installment, actor=consumer).payment
    return a, b


def deliver_capture(payment) -> str:
    """The provider's signed capture notification for `payment`, even one we closed (money arriving late)."""
    headers, body = sandbox.build_webhook(PAYMENT_SUCCEEDED, sandbox.payment_event_data(payment))
    return webhook_receive(provider="sandbox", headers=headers, raw_body=body).result
