"""Cancelling an order's money (the engine's cancel effect) and closing attempts nobody finished."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from payments import events
from payments.lock_objects import installment_qs_select_for_update, payment_qs_select_for_update
from payments.models import Installment, Payment, Refund
from payments.services.refunds import _refunded_total, _submit_after_commit
from payments.services.settlement import _close_open_attempts, _lock_chain
from workflows.models import ServiceOrder, StageInstance

I = Installment.State  # noqa: E741
P = Payment.Status


def _stages_started(order: ServiceOrder) -> set[int]:
    """The stages whose money a cancel keeps. A stage has started when its own work began: on site
    (started_at), delivered for approval (submitted_at), or done while not passive (off-site work
    completed straight from ready gets neither timestamp). A passive stage (nothing to do but pay,
    e.g. the booking deposit) pays for the work after it: it has started once any later stage's
    work began."""
    stages = list(StageInstance.objects.filter(order_id=order.pk).select_related("definition")
                  .order_by("-position"))
    started: set[int] = set()
    later_began = False
    for stage in stages:  # last to first
        began = (stage.started_at is not None or stage.submitted_at is not None
                 or (stage.completed_at is not None and not stage.definition.is_passive))
        if began or (later_began and stage.definition.is_passive):
            started.add(stage.pk)
        later_began = later_began or began
    return started


def installments_cancel(order: ServiceOrder, *, actor=None) -> list[Refund]:
    """Engine effect of "cancel" (order locked): cancel what is unpaid, close open attempts, and
    refund what was paid for refundable stages not started (_stages_started). Refunds go to the
    provider after commit."""
    now = timezone.now()
    insts = list(installment_qs_select_for_update().filter(order_id=order.pk))
    started = _stages_started(order)
    cancelled = []
    for inst in insts:
        if inst.state in Installment.OPEN_STATES:
            _close_open_attempts(inst, now)
            inst.mark_cancelled()
            inst.save()
            cancelled.append(inst.pk)
    if cancelled:
        events.installments_cancelled(order=order, installment_ids=cancelled, actor=actor)
    refunds: list[Refund] = []
    for inst in insts:
        if inst.state not in (I.PAID, I.PARTIALLY_REFUNDED) or not inst.refundable:
            continue
        if inst.stage_id in started:
            continue
        for p in payment_qs_select_for_update().filter(installment_id=inst.pk, status__in=[
                P.CAPTURED, P.PARTIALLY_REFUNDED]):
            remaining = p.amount - _refunded_total(p.pk, Refund.COUNTED_STATUSES)
            if remaining <= 0:
                continue
            refund = Refund.objects.create(payment=p, amount=remaining, currency=p.currency,
                                           reason="order cancelled",
                                           requested_by=actor if getattr(actor, "pk", None) else None)
            events.refund_event(events.REFUND_REQUESTED, order=order, installment=inst, refund=refund, actor=actor,
                                reason="order cancelled")
            refunds.append(refund)
    _submit_after_commit([r.pk for r in refunds])
    return refunds


def payment_expire(*, payment_id: int) -> bool:
    """Close an attempt nobody finished; its installment is payable again."""
    with transaction.atomic():
        order, inst, p = _lock_chain(payment_id)
        if p.status not in Payment.OPEN_STATUSES:
            return False
        p.mark_expired(timezone.now())
        p.save()
        if inst.state == I.PROCESSING:
            inst.mark_released()
            inst.save()
        events.payment_event(events.PAYMENT_EXPIRED, order=order, installment=inst, payment=p, money=False)
        return True

