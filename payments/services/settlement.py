"""Settling a payment from the provider's answer: captured, failed, pending. Every change locks the order,
then the installment, then the payment (lock_chain)."""

from __future__ import annotations

import logging
from decimal import Decimal
from functools import partial

from django.db import transaction
from django.utils import timezone

from payments import events
from payments.lock_objects import installment_qs_select_for_update, payment_qs_select_for_update
from payments.models import Installment, LedgerEntry, Payment, Refund
from workflows import engine
from workflows.models import ServiceOrder

logger = logging.getLogger("payments.services")
I = Installment.State  # noqa: E741
P = Payment.Status


def _lock_chain(payment_id: int) -> tuple[ServiceOrder, Installment, Payment]:
    order_id, installment_id = Payment.objects.filter(pk=payment_id).values_list("order_id", "installment_id").get()
    order = engine.lock_order(order_id)
    inst = installment_qs_select_for_update().get(pk=installment_id)
    payment = payment_qs_select_for_update().get(pk=payment_id)
    return order, inst, payment


def _close_open_attempts(inst: Installment, now) -> list[Payment]:
    closed = list(payment_qs_select_for_update().filter(installment_id=inst.pk, status__in=Payment.OPEN_STATUSES))
    for p in closed:
        p.mark_cancelled(now)
        p.save()
    return closed


def _capture_locked(order: ServiceOrder, inst: Installment, payment: Payment) -> str:
    now = timezone.now()
    payment.mark_captured(now)
    payment.save()
    LedgerEntry.objects.create(order=order, installment=inst, payment=payment, kind=LedgerEntry.Kind.CHARGE,
                               amount=payment.amount, currency=payment.currency)
    # An attempt pays its installment only for the amount it was opened for: after a price revision changed the
    # installment's amount, money arriving late for an old attempt is unowed (sent back) and the installment stays due.
    if inst.state in (I.DUE, I.PROCESSING, I.FAILED) and payment.amount == inst.amount:
        inst.mark_paid(now)
        inst.save()
        events.payment_event(events.PAYMENT_CAPTURED, order=order, installment=inst, payment=payment)
        # Another attempt left open (an earlier one expired, then paid late) must not stay payable:
        # money that still arrives for it is unowed and goes back.
        for closed in _close_open_attempts(inst, now):
            events.payment_event(events.PAYMENT_CANCELLED, order=order, installment=inst, payment=closed, money=False,
                                 reason="another attempt paid the installment")
        return "captured"
    # Money for an installment no longer owed (the order was cancelled, or another attempt already
    # paid it): keep the record and send it back.
    events.payment_event(events.PAYMENT_CAPTURED_UNOWED, order=order, installment=inst, payment=payment,
                         state=inst.state)
    transaction.on_commit(partial(_enqueue, "refund_unowed_payment_task", payment.pk))
    return "captured_unowed"


def _differs(asked: Payment | Refund, amount: Decimal | None, currency: str) -> bool:
    """The provider reported another amount or currency than the payment or refund asked for."""
    return (amount is not None and amount != asked.amount) or bool(currency and currency.upper() != asked.currency)


def _record_mismatch(order, inst, asked: Payment | Refund, amount, currency: str) -> str:
    """On the order's record, and the store is told (notifications), so a person settles it at the provider."""
    logger.warning("%s %s reported for %s %s asked (%s %s)", amount, currency, asked.amount, asked.currency,
                   type(asked).__name__, asked.pk)
    events.amount_mismatch(order=order, installment=inst, asked=asked, amount=amount, currency=currency)
    return "ignored: amount mismatch"


def payment_capture(*, payment: Payment, amount: Decimal | None = None, currency: str = "",
                    provider_payment_id: str = "") -> str:
    """The provider says the money arrived. Idempotent: a second capture changes nothing. `provider_payment_id`:
    the provider's own number for it (Alipay's trade_no, WeChat Pay's transaction_id), kept when it was not known."""
    with transaction.atomic():
        order, inst, p = _lock_chain(payment.pk)
        if p.status in Payment.CAPTURED_STATUSES:
            return "ignored: already captured"
        if _differs(p, amount, currency):
            # Not booked (the ledger holds what was asked for), but the provider may have taken the money.
            return _record_mismatch(order, inst, p, amount, currency)
        if provider_payment_id and not p.provider_payment_id:
            p.provider_payment_id = provider_payment_id[:128]
        result = _capture_locked(order, inst, p)
        engine.try_advance(order)
        return result


def payment_fail(*, payment: Payment) -> str:
    """The attempt failed: the installment can be paid again (state `failed`, payable)."""
    with transaction.atomic():
        order, inst, p = _lock_chain(payment.pk)
        if p.status not in Payment.OPEN_STATUSES:
            return f"ignored: payment is {p.status}"
        p.mark_failed(timezone.now())
        p.save()
        if inst.state == I.PROCESSING:
            inst.mark_failed()
            inst.save()
        events.payment_event(events.PAYMENT_FAILED, order=order, installment=inst, payment=p)
        return "failed"


def payment_mark_pending(*, payment: Payment) -> str:
    with transaction.atomic():
        _order, _inst, p = _lock_chain(payment.pk)
        if p.status != P.CREATED:
            return f"ignored: payment is {p.status}"
        p.mark_pending()
        p.save()
        return "pending"


def _enqueue(task_name: str, object_id: int) -> None:
    """Queue a payments task. A broker that is down (or, in eager mode, a provider still down) must not
    fail what already committed: refunds_resubmit_stale sends what this leaves undone."""
    from payments import tasks

    try:
        getattr(tasks, task_name).delay(object_id)
    except Exception:  # noqa: BLE001 - whatever the broker raises, the periodic resubmission recovers
        logger.warning("%s(%s) not run now; refunds_resubmit_stale will", task_name, object_id, exc_info=True)

