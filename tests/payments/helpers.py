"""Shared steps for the payments tests."""

from payments.models import Installment
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
