"""Installments: made when the order is created, due when the engine reaches their stage (engine effects,
wired in payments/plugin.py)."""

from __future__ import annotations

import operator
from functools import reduce

from django.db.models import Case, FilteredRelation, Q, Value, When
from django.utils import timezone
from django_fsm import ConcurrentTransition

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
    stages = engine.order_stages(order)  # the engine's own (read once): they carry the installments made here
    paying = [s for s in stages if s.definition.carries_payment]
    if not paying:
        return []
    amounts = money.allocate_with_fixed(order.total_amount, [s.definition.payment_part for s in paying],
                                        order.currency)
    made = Installment.objects.bulk_create([
        Installment(order=order, stage=s, position=s.position, amount=amt, currency=order.currency,
                    timing=s.definition.payment_timing, refundable=s.definition.refundable_on_cancel)
        for s, amt in zip(paying, amounts, strict=True)
    ])
    for inst in made:  # the stages were read before they existed (STAGE_ROWS)
        setattr(inst.stage, STAGE_ROWS[inst.timing], inst)
    return made


# The installments of each stage (one per timing at most: one_installment_per_stage_timing), read with the engine's
# read of the order's stages (payments.plugin registers them: workflows.hooks.register_stage_row) and set as
# `stage.payments_before` / `stage.payments_after`: installments_make_due reads no installment.
STAGE_ROWS = {timing: f"payments_{timing}" for timing in Installment.Timing.values}


def stage_row(timing: str):
    return lambda: FilteredRelation("installments", condition=Q(installments__timing=timing))


def _read_with_stages(by_pk: dict[int, StageInstance], wanted: set[tuple[int, str]]) -> list[Installment] | None:
    """The `wanted` (stage, timing) installments as the engine's read of the stages brought them, in pk order; None
    when that read did not bring them along. Read unlocked, and exact: every writer of an order's installments locks
    the order first (the engine's effects; payments.services: engine.lock_order or _lock_chain, then the
    installments), so none changed since that read under this step's lock."""
    rows = []
    for pk, timing in wanted:
        loaded = by_pk[pk].__dict__
        if STAGE_ROWS[timing] not in loaded:
            return None
        rows.append(loaded[STAGE_ROWS[timing]])
    return sorted((inst for inst in rows if inst is not None), key=lambda inst: inst.pk)


def installments_make_due(order: ServiceOrder, *, to_state: str, actor=None) -> list[Installment]:
    """Entering "<code>:waiting_payment" makes that stage's 'before' installment and the previous
    stage's 'after' installment due; entering "closing" makes the last stage's 'after' one due.
    A zero installment (a tiny total split many ways) is waived at once.

    A fixed number of statements however many fall due: the installments that gate the stage read with the engine's
    read of the stages (STAGE_ROWS; else locked in one read), kept on the order for the unblock guard that follows
    (payments.plugin.guard_unblock); one UPDATE of those falling due (only those still scheduled: the rows it
    changes are the ones recorded), one `installment.due` event naming them all (and its one message)."""
    code, sub = engine.split_state(to_state)
    if sub != StageInstance.State.WAITING_PAYMENT and to_state != engine.CLOSING:
        return []
    stages = engine.order_stages(order)  # the engine's own, with their definitions: no read
    wanted: set[tuple[int, str]] = set()
    if to_state == engine.CLOSING:
        wanted.add((stages[-1].pk, Installment.Timing.AFTER))
    else:
        idx = next(i for i, s in enumerate(stages) if s.definition.code == code)
        wanted.add((stages[idx].pk, Installment.Timing.BEFORE))
        if idx > 0:
            wanted.add((stages[idx - 1].pk, Installment.Timing.AFTER))
    by_pk = {s.pk: s for s in stages}  # the listeners word messages with them
    gating = _read_with_stages(by_pk, wanted)
    if gating is None:
        gating = list(installment_qs_select_for_update().filter(
            reduce(operator.or_, (Q(stage_id=pk, timing=timing) for pk, timing in wanted)), order_id=order.pk))
    now = timezone.now()
    made = [inst for inst in gating if inst.state == I.SCHEDULED]
    for inst in made:
        inst.mark_due(now)
        if inst.amount == 0:
            inst.mark_waived()
    if made:
        updated = Installment.objects.filter(pk__in=[i.pk for i in made], state=I.SCHEDULED).update(
            state=Case(When(amount=0, then=Value(I.WAIVED)), default=Value(I.DUE)), due_at=now)
        if updated != len(made):  # cannot happen under the lock; never record what did not happen
            raise ConcurrentTransition("installments changed under the order's lock")
        for inst in made:
            inst._update_initial_state()  # saved as they are now (django-fsm's concurrent-transition check)
    if to_state != engine.CLOSING:
        remember_gating(order, stages[idx], gating)
    due = [i for i in made if i.state == I.DUE]
    if due:
        events.installments_due(order=order, installments=due, stages=by_pk)
    for inst in made:
        if inst.state == I.WAIVED:
            events.installment_waived(order=order, installment=inst, stage=by_pk[inst.stage_id])
    return made


def remember_gating(order: ServiceOrder, stage: StageInstance, installments: list[Installment]) -> None:
    """Keep the installments gating `stage` (locked, as they now are) on the locked order instance, for the unblock
    guard the engine asks next in this very step; taken once (gating_remembered), and only while the order is
    still in the state it was in."""
    order._payments_gating = (order.state, stage.pk, installments)


def gating_remembered(order: ServiceOrder, stage: StageInstance) -> list[Installment] | None:
    remembered = order.__dict__.pop("_payments_gating", None)
    if remembered is None or remembered[:2] != (order.state, stage.pk):
        return None
    return remembered[2]
