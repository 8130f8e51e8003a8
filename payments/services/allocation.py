"""Installments: made when the order is created, due when the engine reaches their stage (engine effects,
wired in payments/plugin.py)."""

from __future__ import annotations

from django.utils import timezone

from core import money
from payments import events
from payments.lock_objects import installment_qs_select_for_update
from payments.models import Installment
from workflows import engine
from workflows.models import ServiceOrder, StageInstance

I = Installment.State  # noqa: E741


def installments_allocate(order: ServiceOrder) -> list[Installment]:
    """One installment per stage carrying a share or a fixed amount; the fixed amounts are taken first, the shares
    split the rest, and the amounts add up to the total exactly (core.money.allocate_with_fixed)."""
    stages = list(order.stages.select_related("definition").order_by("position"))
    paying = [s for s in stages if s.definition.carries_payment]
    if not paying:
        return []
    amounts = money.allocate_with_fixed(order.total_amount, [s.definition.payment_part for s in paying],
                                        order.currency)
    return Installment.objects.bulk_create([
        Installment(order=order, stage=s, position=s.position, amount=amt, currency=order.currency,
                    timing=s.definition.payment_timing, refundable=s.definition.refundable_on_cancel)
        for s, amt in zip(paying, amounts, strict=True)
    ])


def installments_make_due(order: ServiceOrder, *, to_state: str, actor=None) -> list[Installment]:
    """Entering "<code>:waiting_payment" makes that stage's 'before' installment and the previous
    stage's 'after' installment due; entering "closing" makes the last stage's 'after' one due.
    A zero installment (a tiny total split many ways) is waived at once."""
    code, sub = engine.split_state(to_state)
    if sub != StageInstance.State.WAITING_PAYMENT and to_state != engine.CLOSING:
        return []
    stages = list(order.stages.select_related("definition").order_by("position"))
    wanted: set[tuple[int, str]] = set()
    if to_state == engine.CLOSING:
        wanted.add((stages[-1].pk, Installment.Timing.AFTER))
    else:
        idx = next(i for i, s in enumerate(stages) if s.definition.code == code)
        wanted.add((stages[idx].pk, Installment.Timing.BEFORE))
        if idx > 0:
            wanted.add((stages[idx - 1].pk, Installment.Timing.AFTER))
    by_pk = {s.pk: s for s in stages}  # read above with their definitions: the listeners word messages with them
    now = timezone.now()
    made = []
    for inst in installment_qs_select_for_update().filter(order_id=order.pk, state=I.SCHEDULED):
        if (inst.stage_id, inst.timing) not in wanted:
            continue
        inst.mark_due(now)
        if inst.amount == 0:
            inst.mark_waived()
        inst.save()
        events.installment_due(order=order, installment=inst, stage=by_pk[inst.stage_id])
        made.append(inst)
    return made

