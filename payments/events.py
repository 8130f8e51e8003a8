"""The order events the payments app records: each kind declared once, with a small constructor.

Amounts go into payloads as strings with the currency's places, beside their currency."""

from __future__ import annotations

from decimal import Decimal

from payments.models import Installment, Payment, Refund
from workflows.events import declare, record_event
from workflows.models import OrderEvent, ServiceOrder

_MONEY = ("amount", "currency")
# One event for all the installments a step makes due (a design's approval: its own 'after' one and the next stage's
# 'before' one): `installments` lists each (installment, stage, amount, timing); `amount` is their total. With one
# installment, `installment` and `timing` are its own, as before the list was added.
INSTALLMENT_DUE = declare("installment.due", "One or more installments became due: the consumer can pay them.",
                          ("installment", *_MONEY, "timing", "installments"))
INSTALLMENT_WAIVED = declare("installment.waived", "A zero installment was waived at once.",
                             ("installment", *_MONEY, "timing"))
INSTALLMENTS_CANCELLED = declare("installments.cancelled",
                                 "The cancelled order's unpaid installments were cancelled.", ("installments",))
PAYMENT_STARTED = declare("payment.started", "A payment attempt was opened at the provider.",
                          ("installment", "payment", *_MONEY, "provider"))
PAYMENT_CAPTURED = declare("payment.captured", "The provider confirmed the money: the installment is paid.",
                           ("installment", "payment", *_MONEY))
PAYMENT_CAPTURED_UNOWED = declare(
    "payment.captured_unowed", "Money arrived for an installment no longer owed; it is sent back.",
    ("installment", "payment", *_MONEY, "state"))
PAYMENT_CANCELLED = declare("payment.cancelled", "An open payment attempt was closed.",
                            ("installment", "payment", "reason"))
PAYMENT_FAILED = declare("payment.failed", "A payment attempt failed; the installment can be paid again.",
                         ("installment", "payment", *_MONEY))
PAYMENT_EXPIRED = declare("payment.expired", "A payment attempt nobody finished was closed.",
                          ("installment", "payment"))
PAYMENT_REFUNDED = declare("payment.refunded", "Money went back to the consumer.",
                           ("installment", "payment", "refund", *_MONEY, "reason"))
REFUND_REQUESTED = declare("refund.requested", "A refund was asked of the provider.",
                           ("installment", "payment", "refund", *_MONEY, "reason"))
REFUND_FAILED = declare("refund.failed", "The provider refused a refund.",
                        ("installment", "payment", "refund", *_MONEY))
REFUND_STUCK = declare("refund.stuck", "A refund is still unconfirmed long after it was asked: the store is told.",
                       ("installment", "payment", "refund", *_MONEY, "created_at", "hours"))
_MISMATCH = (*_MONEY, "reported_amount", "reported_currency")
PAYMENT_AMOUNT_MISMATCH = declare(
    "payment.amount_mismatch", "The provider reported another amount or currency than the payment asked: not booked.",
    ("installment", "payment", *_MISMATCH))
REFUND_AMOUNT_MISMATCH = declare(
    "refund.amount_mismatch", "The provider reported another amount or currency than the refund asked: not booked.",
    ("installment", "payment", "refund", *_MISMATCH))
NOTIFICATION_REJECTED = declare(
    "payment.notification_rejected",
    "A provider notification about this payment was refused (bad signature, another app id or merchant number, "
    "stale or unreadable): nothing changed; the store is told.",
    ("installment", "payment", "provider", "reason", "detail"))
REFUND_UNRECOGNISED = declare(
    "refund.unrecognised",
    "The provider reported a refund of this payment that was never asked here: not booked; the store is told.",
    ("installment", "payment", *_MONEY, "reported_amount", "provider_refund_id", "refund_reference"))
_REVISION = ("revision", "amount", "previous_amount", "currency")
REVISION_PROPOSED = declare(
    "revision.proposed",
    "Store staff proposed a price revision (增减项): a new total (amount) with its line items and reason; the "
    "consumer is asked to accept or decline.", (*_REVISION, "reason", "lines"))
REVISION_ACCEPTED = declare(
    "revision.accepted",
    "The consumer accepted a price revision: the order's total is the new one (amount), the unpaid installments "
    "were re-split (installments: id -> new amount), and refund_amount was asked back when the new total was below "
    "what was paid.", (*_REVISION, "installments", "refund_amount"))
REVISION_DECLINED = declare("revision.declined",
                            "The consumer declined a price revision: the order's total is unchanged.", _REVISION)
RECONCILIATION_DIFFERENCE = declare(
    "payment.reconciliation_difference",
    "The day's reconciliation found the provider's record of a payment or refund differs from the ledger.",
    ("installment", "payment", "refund", *_MONEY, "day", "difference", "ledger", "provider_says"))


def _money(amount: Decimal, currency: str) -> dict:
    return {"amount": str(amount), "currency": currency}


def installment_waived(*, order: ServiceOrder, installment: Installment, stage=None) -> OrderEvent:
    """`stage`: the installment's stage when the caller has it loaded (the listeners then read no stage row)."""
    return record_event(order=order, kind=INSTALLMENT_WAIVED, stage=stage, stage_id=installment.stage_id,
                        payload={"installment": installment.pk, **_money(installment.amount, installment.currency),
                                 "timing": installment.timing})


def installments_due(*, order: ServiceOrder, installments: list[Installment], stages: dict) -> OrderEvent:
    """One `installment.due` event for the installments (in position order) one step made due, on the stage of the
    last of them (the stage waiting for the money). `stages`: the order's stages by pk, loaded (the listeners then
    read no stage row)."""
    installments = sorted(installments, key=lambda i: (i.position, i.pk))
    currency = installments[0].currency
    total = sum((i.amount for i in installments), Decimal("0"))
    payload = {"installments": [{"installment": i.pk, "stage": i.stage_id, "amount": str(i.amount),
                                 "timing": i.timing} for i in installments], **_money(total, currency)}
    if len(installments) == 1:
        payload.update(installment=installments[0].pk, timing=installments[0].timing)
    stage_id = installments[-1].stage_id
    return record_event(order=order, kind=INSTALLMENT_DUE, stage=stages.get(stage_id), stage_id=stage_id,
                        payload=payload)


def installments_cancelled(*, order: ServiceOrder, installment_ids: list[int], actor=None) -> OrderEvent:
    return record_event(order=order, kind=INSTALLMENTS_CANCELLED, actor=actor,
                        payload={"installments": installment_ids})


def payment_event(kind, /, *, order: ServiceOrder, installment: Installment, payment: Payment, actor=None,
                  money: bool = True, **extra) -> OrderEvent:
    """One of the payment.* kinds about `payment` (on its installment's stage), with its amount unless
    money=False."""
    payload = {"installment": installment.pk, "payment": payment.pk}
    if money:
        payload.update(_money(payment.amount, payment.currency))
    return record_event(order=order, kind=kind, actor=actor, stage_id=installment.stage_id,
                        payload={**payload, **extra})


def refund_event(kind, /, *, order: ServiceOrder, installment: Installment, refund: Refund, actor=None,
                 **extra) -> OrderEvent:
    """One of the refund.* kinds (and payment.refunded) about `refund` (on its installment's stage), with its
    amount."""
    return record_event(order=order, kind=kind, actor=actor, stage_id=installment.stage_id,
                        payload={"installment": installment.pk, "payment": refund.payment_id, "refund": refund.pk,
                                 **_money(refund.amount, refund.currency), **extra})


def amount_mismatch(*, order: ServiceOrder, installment: Installment, asked: Payment | Refund, amount,
                    currency: str) -> OrderEvent:
    """The provider reported `amount`/`currency` for a payment or refund that asked for another."""
    reported = {"reported_amount": str(amount) if amount is not None else None,
                "reported_currency": (currency or asked.currency).upper()}
    if isinstance(asked, Refund):
        return refund_event(REFUND_AMOUNT_MISMATCH, order=order, installment=installment, refund=asked, **reported)
    return payment_event(PAYMENT_AMOUNT_MISMATCH, order=order, installment=installment, payment=asked, **reported)


def notification_rejected(*, order: ServiceOrder, installment: Installment, payment: Payment, reason: str,
                          detail: str) -> OrderEvent:
    return payment_event(NOTIFICATION_REJECTED, order=order, installment=installment, payment=payment, money=False,
                         provider=payment.provider, reason=reason, detail=detail[:300])


def refund_unrecognised(*, order: ServiceOrder, installment: Installment, payment: Payment, amount,
                        provider_refund_id: str, refund_reference: str) -> OrderEvent:
    """`amount` is what the provider reported (None when it did not say); amount/currency are the payment's."""
    return payment_event(REFUND_UNRECOGNISED, order=order, installment=installment, payment=payment,
                         reported_amount=str(amount) if amount is not None else None,
                         provider_refund_id=provider_refund_id[:128], refund_reference=refund_reference[:64])


def reconciliation_difference(*, order: ServiceOrder, installment: Installment, payment: Payment,
                              refund: Refund | None, day: str, difference: str, ledger: str,
                              provider_says: str) -> OrderEvent:
    asked = refund or payment
    return record_event(order=order, kind=RECONCILIATION_DIFFERENCE, stage_id=installment.stage_id, payload={
        "installment": installment.pk, "payment": payment.pk, "refund": refund.pk if refund else None,
        **_money(asked.amount, asked.currency), "day": day, "difference": difference, "ledger": ledger,
        "provider_says": provider_says})


def revision_event(kind, /, *, order: ServiceOrder, revision, actor=None, **extra) -> OrderEvent:
    """One of the revision.* kinds: `amount` is the proposed new total, `previous_amount` the total before."""
    return record_event(order=order, kind=kind, actor=actor, payload={
        "revision": revision.pk, **_money(revision.new_total, revision.currency),
        "previous_amount": str(revision.old_total), **extra})
