"""Write operations of the payments app. The API, the webhook endpoint, the sandbox checkout page,
the admin and the Celery tasks all call these.

Every change has the same shape: lock the order (workflows.engine.lock_order), then the
installment, then the payment (then the refund); check the state; change it through the
django-fsm transition; append a ledger entry where money moved; record one order event;
let the engine take the next step (engine.try_advance). Calls to the provider happen outside
those transactions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from core import money
from core.errors import Conflict, DomainError, InvalidTransition, NotFound, PermissionDeniedError
from payments.lock_objects import (
    installment_qs_select_for_update,
    payment_qs_select_for_update,
    refund_qs_select_for_update,
)
from payments.models import Installment, LedgerEntry, Payment, Refund, WebhookDelivery
from payments.providers import get_provider
from payments.providers.base import (
    EVENT_TYPES,
    PAYMENT_FAILED,
    PAYMENT_PENDING,
    PAYMENT_SUCCEEDED,
    REFUND_SUCCEEDED,
    MalformedWebhook,
    ProviderUnavailable,
    WebhookEvent,
    WebhookRejected,
)
from tenancy.models import User
from workflows import engine
from workflows.events import record_event
from workflows.hooks import TransitionContext
from workflows.models import ServiceOrder, StageInstance

logger = logging.getLogger(__name__)
Role = User.Role
I = Installment.State  # noqa: E741
P = Payment.Status
ZERO = Decimal("0")
PAYER_ROLES = {Role.CONSUMER, Role.STORE_MANAGER, Role.MERCHANT_ADMIN}
REFUNDER_ROLES = {Role.STORE_MANAGER, Role.MERCHANT_ADMIN}
SENSITIVE_HEADERS = {"authorization", "cookie", "proxy-authorization"}


def _money(amount: Decimal) -> str:
    return str(amount)


# --- allocation, due dates and the engine's guards ----------------------------------------------


def installments_allocate(order: ServiceOrder) -> list[Installment]:
    """One installment per stage carrying a share; the amounts add up to the total exactly."""
    stages = list(order.stages.select_related("definition").order_by("position"))
    paying = [s for s in stages if s.definition.carries_payment]
    if not paying:
        return []
    amounts = money.allocate(order.total_amount, [s.definition.payment_share for s in paying], order.currency)
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
    now = timezone.now()
    made = []
    for inst in installment_qs_select_for_update().filter(order_id=order.pk, state=I.SCHEDULED):
        if (inst.stage_id, inst.timing) not in wanted:
            continue
        inst.mark_due(now)
        kind = "installment.due"
        if inst.amount == ZERO:
            inst.mark_waived()
            kind = "installment.waived"
        inst.save()
        record_event(order=order, kind=kind, actor=None, stage=StageInstance(pk=inst.stage_id),
                     payload={"installment": inst.pk, "amount": _money(inst.amount), "currency": inst.currency,
                              "timing": inst.timing})
        made.append(inst)
    return made


def guard_unblock(order: ServiceOrder, stage: StageInstance | None) -> str | None:
    """A gated stage opens only when every installment gating it is paid (or waived)."""
    if stage is None:
        return None
    prev = StageInstance.objects.filter(order_id=order.pk, position__lt=stage.position).order_by("-position") \
        .values_list("pk", flat=True).first()
    gating = Installment.objects.filter(order_id=order.pk, stage_id=stage.pk, timing=Installment.Timing.BEFORE)
    if prev is not None:
        gating = gating | Installment.objects.filter(order_id=order.pk, stage_id=prev,
                                                     timing=Installment.Timing.AFTER)
    unpaid = [i for i in gating if i.state not in Installment.SETTLED_STATES]
    if unpaid:
        owed = sum((i.amount for i in unpaid), ZERO)
        return f"Waiting for payment of {owed} {unpaid[0].currency}."
    return None


def guard_settle(order: ServiceOrder, stage: StageInstance | None) -> str | None:
    unpaid = list(Installment.objects.filter(order_id=order.pk).exclude(state__in=Installment.SETTLED_STATES))
    if unpaid:
        return f"Waiting for the final payment of {sum((i.amount for i in unpaid), ZERO)} {unpaid[0].currency}."
    return None


def on_order_transition(ctx: TransitionContext) -> None:
    """The engine effect: allocate on create, make installments due, cancel and refund on cancel."""
    if ctx.trigger == "create":
        installments_allocate(ctx.order)
    if ctx.trigger == "cancel":
        installments_cancel(ctx.order, actor=ctx.actor)
        return
    installments_make_due(ctx.order, to_state=ctx.to_state, actor=ctx.actor)


# --- paying -----------------------------------------------------------------------------------


@dataclass
class PayResult:
    payment: Payment
    created: bool


def installment_pay(*, installment: Installment, actor) -> PayResult:
    """Open a payment attempt for a due installment, or return the one already open.

    Store staff may also open one (to show the consumer the checkout link or QR at the counter);
    the money still comes from the consumer through the provider."""
    if getattr(actor, "role", None) not in PAYER_ROLES:
        raise PermissionDeniedError("Your role may not start payments.")
    with transaction.atomic():
        order = engine.lock_order(installment.order_id)
        inst = installment_qs_select_for_update().get(pk=installment.pk)
        open_payment = Payment.objects.filter(installment_id=inst.pk, status__in=Payment.OPEN_STATUSES).first()
        if inst.state == I.PROCESSING and open_payment is not None:
            payment, created = open_payment, False
        elif inst.state in Installment.PAYABLE_STATES or inst.state == I.PROCESSING:
            provider = get_provider()
            payment = Payment.objects.create(
                installment=inst, order=order, provider=provider.name, amount=inst.amount, currency=inst.currency,
                created_by=actor if getattr(actor, "pk", None) else None,
            )
            if inst.state != I.PROCESSING:
                inst.mark_processing()
                inst.save()
            record_event(order=order, kind="payment.started", actor=actor, stage=StageInstance(pk=inst.stage_id),
                         payload={"installment": inst.pk, "payment": payment.pk, "amount": _money(payment.amount),
                                  "currency": payment.currency, "provider": payment.provider})
            created = True
        else:
            raise InvalidTransition(f"This installment is {inst.state}; only a due installment can be paid.",
                                    allowed=[], state=inst.state)
    return PayResult(payment=payment_ensure_started(payment), created=created)


def payment_ensure_started(payment: Payment) -> Payment:
    """Open the payment at the provider (outside any lock) and keep its id and checkout URL."""
    if payment.checkout_url or not payment.is_open:
        return payment
    result = get_provider(payment.provider).start_payment(payment)
    with transaction.atomic():
        engine.lock_order(payment.order_id)
        p = payment_qs_select_for_update().get(pk=payment.pk)
        if not p.checkout_url:
            p.provider_payment_id = p.provider_payment_id or result.provider_payment_id
            p.checkout_url = result.checkout_url
            if p.status == P.CREATED:
                p.mark_pending()
            p.save()
    return p


# --- settling: capture, failure, refunds ------------------------------------------------------


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
    payload = {"installment": inst.pk, "payment": payment.pk, "amount": _money(payment.amount),
               "currency": payment.currency}
    stage = StageInstance(pk=inst.stage_id)
    if inst.state in (I.DUE, I.PROCESSING, I.FAILED):
        inst.mark_paid(now)
        inst.save()
        record_event(order=order, kind="payment.captured", stage=stage, payload=payload)
        # Another attempt left open (an earlier one expired, then paid late) must not stay payable:
        # money that still arrives for it is unowed and goes back.
        for closed in _close_open_attempts(inst, now):
            record_event(order=order, kind="payment.cancelled", stage=stage,
                         payload={"installment": inst.pk, "payment": closed.pk,
                                  "reason": "another attempt paid the installment"})
        return "captured"
    # Money for an installment no longer owed (the order was cancelled, or another attempt already
    # paid it): keep the record and send it back.
    record_event(order=order, kind="payment.captured_unowed", stage=stage, payload={**payload, "state": inst.state})
    transaction.on_commit(partial(_enqueue, "refund_unowed_payment_task", payment.pk))
    return "captured_unowed"


def _differs(asked: Payment | Refund, amount: Decimal | None, currency: str) -> bool:
    """The provider reported another amount or currency than the payment or refund asked for."""
    return (amount is not None and amount != asked.amount) or bool(currency and currency.upper() != asked.currency)


def _record_mismatch(order, inst, kind: str, asked: Payment | Refund, amount, currency: str, ids: dict) -> str:
    """On the order's record, and the store is told (notifications), so a person settles it at the provider."""
    logger.warning("%s: %s %s reported for %s %s asked (%s)", kind, amount, currency, asked.amount, asked.currency,
                   ids)
    record_event(order=order, kind=kind, stage=StageInstance(pk=inst.stage_id),
                 payload={**ids, "amount": _money(asked.amount), "currency": asked.currency,
                          "reported_amount": str(amount) if amount is not None else None,
                          "reported_currency": (currency or asked.currency).upper()})
    return "ignored: amount mismatch"


def payment_capture(*, payment: Payment, amount: Decimal | None = None, currency: str = "") -> str:
    """The provider says the money arrived. Idempotent: a second capture changes nothing."""
    with transaction.atomic():
        order, inst, p = _lock_chain(payment.pk)
        if p.status in Payment.CAPTURED_STATUSES:
            return "ignored: already captured"
        if _differs(p, amount, currency):
            # Not booked (the ledger holds what was asked for), but the provider may have taken the money.
            return _record_mismatch(order, inst, "payment.amount_mismatch", p, amount, currency,
                                    {"installment": inst.pk, "payment": p.pk})
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
        record_event(order=order, kind="payment.failed", stage=StageInstance(pk=inst.stage_id),
                     payload={"installment": inst.pk, "payment": p.pk, "amount": _money(p.amount),
                              "currency": p.currency})
        return "failed"


def payment_mark_pending(*, payment: Payment) -> str:
    with transaction.atomic():
        _order, _inst, p = _lock_chain(payment.pk)
        if p.status != P.CREATED:
            return f"ignored: payment is {p.status}"
        p.mark_pending()
        p.save()
        return "pending"


def _refunded_total(payment_id: int, statuses) -> Decimal:
    return Refund.objects.filter(payment_id=payment_id, status__in=statuses).aggregate(
        s=Sum("amount"))["s"] or ZERO


def _kept_for(inst: Installment) -> Decimal:
    """What the ledger holds for one installment: its charges minus its refunds."""
    sums = LedgerEntry.objects.filter(installment_id=inst.pk).aggregate(
        charged=Sum("amount", filter=Q(kind=LedgerEntry.Kind.CHARGE)),
        refunded=Sum("amount", filter=Q(kind=LedgerEntry.Kind.REFUND)))
    return (sums["charged"] or ZERO) - (sums["refunded"] or ZERO)


def _settle_refund_locked(order, inst, payment, refund: Refund, provider_refund_id: str) -> str:
    if payment.status not in Payment.CAPTURED_STATUSES:
        # The refund notification overtook the capture: a refund implies the capture happened.
        _capture_locked(order, inst, payment)
    now = timezone.now()
    refund.status = Refund.Status.SUCCEEDED
    refund.settled_at = now
    if provider_refund_id and not refund.provider_refund_id:
        refund.provider_refund_id = provider_refund_id
    refund.save()
    LedgerEntry.objects.create(order=order, installment=inst, payment=payment, refund=refund,
                               kind=LedgerEntry.Kind.REFUND, amount=refund.amount, currency=refund.currency)
    if _refunded_total(payment.pk, [Refund.Status.SUCCEEDED]) >= payment.amount:
        payment.mark_refunded()
    else:
        payment.mark_partially_refunded()
    payment.save()
    if inst.state in (I.PAID, I.PARTIALLY_REFUNDED):
        # The installment follows the money kept for it, not the refunds of all its payments: sending
        # back a second capture leaves it paid by the first.
        kept = _kept_for(inst)
        if kept <= ZERO:
            inst.mark_refunded()
            inst.save()
        elif kept < inst.amount:
            inst.mark_partially_refunded()
            inst.save()
    record_event(order=order, kind="payment.refunded", actor=refund.requested_by,
                 stage=StageInstance(pk=inst.stage_id),
                 payload={"installment": inst.pk, "payment": payment.pk, "refund": refund.pk,
                          "amount": _money(refund.amount), "currency": refund.currency, "reason": refund.reason})
    engine.try_advance(order)
    return "refunded"


def refund_settle(*, refund: Refund, succeeded: bool, provider_refund_id: str = "",
                  amount: Decimal | None = None, currency: str = "") -> str:
    """The provider's answer about one refund (synchronous result or notification). Idempotent.
    `amount`/`currency`, when the provider reported them, must be the refund's own."""
    with transaction.atomic():
        order, inst, p = _lock_chain(refund.payment_id)
        r = refund_qs_select_for_update().get(pk=refund.pk)
        if r.status == Refund.Status.SUCCEEDED:
            return "ignored: already refunded"
        if succeeded and _differs(r, amount, currency):
            # Not booked: the ledger would hold what was asked, not what went back.
            return _record_mismatch(order, inst, "refund.amount_mismatch", r, amount, currency,
                                    {"payment": p.pk, "refund": r.pk})
        if not succeeded:
            if r.status != Refund.Status.PENDING:
                return f"ignored: refund is {r.status}"
            r.status, r.settled_at = Refund.Status.FAILED, timezone.now()
            r.save()
            record_event(order=order, kind="refund.failed", stage=StageInstance(pk=inst.stage_id),
                         payload={"payment": p.pk, "refund": r.pk, "amount": _money(r.amount),
                                  "currency": r.currency})
            return "refund failed"
        if r.status == Refund.Status.FAILED and (
                _refunded_total(p.pk, Refund.COUNTED_STATUSES) + r.amount > p.amount):
            return "ignored: would exceed captured"
        return _settle_refund_locked(order, inst, p, r, provider_refund_id)


def _refund_from_event(payment: Payment, event: WebhookEvent, succeeded: bool) -> str:
    refund = None
    if event.refund_reference:
        refund = Refund.objects.filter(payment=payment, reference=event.refund_reference).first()
    if refund is None and event.provider_refund_id:
        refund = Refund.objects.filter(payment=payment, provider_refund_id=event.provider_refund_id).first()
    if refund is not None:
        return refund_settle(refund=refund, succeeded=succeeded, provider_refund_id=event.provider_refund_id,
                             amount=event.amount, currency=event.currency)
    if not succeeded:
        return "ignored: unknown refund"
    # A refund made at the provider (its dashboard), or whose record we have not seen: record it.
    if event.amount is None or event.amount <= 0 or not event.provider_refund_id:
        return "ignored: refund without amount or id"
    # Never recorded as sent (0.001 CNY, 100.5 JPY, another currency): the ledger could not hold it (on
    # PostgreSQL numeric(14,2) refuses it, and the provider would retry forever). A person looks.
    refused = ("currency mismatch" if event.currency and event.currency.upper() != payment.currency
               else money.minor_units_error(event.amount, payment.currency))
    if refused:
        logger.warning("payment %s: refund notification %s of %s %s refused: %s", payment.pk,
                       event.provider_refund_id, event.amount, event.currency, refused)
        return f"ignored: {refused}"
    with transaction.atomic():
        order, inst, p = _lock_chain(payment.pk)
        if Refund.objects.filter(provider_refund_id=event.provider_refund_id).exists():
            return "ignored: already refunded"
        if _refunded_total(p.pk, Refund.COUNTED_STATUSES) + event.amount > p.amount:
            return "ignored: would exceed captured"
        r = Refund.objects.create(payment=p, amount=event.amount, currency=p.currency,
                                  provider_refund_id=event.provider_refund_id, reason="refunded at the provider")
        return _settle_refund_locked(order, inst, p, r, event.provider_refund_id)


def _validate_refund_amount(amount, currency: str) -> Decimal:
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError, TypeError):
        value = None
    if value is None or not value.is_finite() or value <= 0:
        raise DomainError("Give an amount above zero.", code="invalid",
                          errors={"amount": ["Give an amount above zero."]})
    if error := money.minor_units_error(value, currency):
        raise DomainError(error, code="invalid", errors={"amount": [error]})
    return value


def payment_refund(*, payment: Payment, amount, actor, reason: str = "") -> Refund:
    """Refund part or all of a captured payment (store staff). Never more than what is left:
    the payment row is locked while the pending refunds are counted."""
    if actor is not None and getattr(actor, "role", None) not in REFUNDER_ROLES:
        raise PermissionDeniedError("Only store staff may refund.")
    value = _validate_refund_amount(amount, payment.currency)
    with transaction.atomic():
        order, inst, p = _lock_chain(payment.pk)
        if p.status not in (P.CAPTURED, P.PARTIALLY_REFUNDED):
            raise InvalidTransition(f"This payment is {p.status}; only a captured payment can be refunded.",
                                    allowed=[])
        refundable = p.amount - _refunded_total(p.pk, Refund.COUNTED_STATUSES)
        if value > refundable:
            raise Conflict(f"At most {refundable} {p.currency} can still be refunded.",
                           code="refund_exceeds_captured", refundable=_money(refundable))
        refund = Refund.objects.create(payment=p, amount=value, currency=p.currency, reason=reason[:300],
                                       requested_by=actor if getattr(actor, "pk", None) else None)
        record_event(order=order, kind="refund.requested", actor=actor, stage=StageInstance(pk=inst.stage_id),
                     payload={"payment": p.pk, "refund": refund.pk, "amount": _money(value),
                              "currency": p.currency, "reason": reason[:300]})
    try:
        return refund_submit(refund_id=refund.pk)
    except ProviderUnavailable as exc:
        # The refund is recorded (and counts against what is refundable): it stays pending and is sent
        # again in the background, instead of a 500 that leaves it pending with nothing to resend it.
        logger.warning("refund %s: the provider is unavailable (%s); queued to be sent again", refund.pk, exc)
        _submit_after_commit([refund.pk])
        return Refund.objects.select_related("payment").get(pk=refund.pk)


def _enqueue(task_name: str, object_id: int) -> None:
    """Queue a payments task. A broker that is down (or, in eager mode, a provider still down) must not
    fail what already committed: refunds_resubmit_stale sends what this leaves undone."""
    from payments import tasks

    try:
        getattr(tasks, task_name).delay(object_id)
    except Exception:  # noqa: BLE001 - whatever the broker raises, the periodic resubmission recovers
        logger.warning("%s(%s) not run now; refunds_resubmit_stale will", task_name, object_id, exc_info=True)


def _submit_after_commit(refund_ids: list[int]) -> None:
    for refund_id in refund_ids:
        transaction.on_commit(partial(_enqueue, "refund_submit_task", refund_id))


def refund_submit(*, refund_id: int) -> Refund:
    """Send a pending refund to the provider (outside any transaction) and record its answer.
    ProviderUnavailable propagates (the task retries); the refund stays pending meanwhile."""
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    if refund.status != Refund.Status.PENDING:
        return refund
    now = timezone.now()
    # Asked now; with no answer (ProviderUnavailable) it is due again after the first delay, not a longer one, so
    # refunds go as soon as the provider is back.
    Refund.objects.filter(pk=refund.pk).update(last_sent_at=now, next_send_at=now + refund_resend_delay(1))
    result = get_provider(refund.payment.provider).refund(refund.payment, refund.amount, refund)
    if result.status in ("succeeded", "failed"):
        refund_settle(refund=refund, succeeded=result.status == "succeeded",
                      provider_refund_id=result.provider_refund_id)
    else:  # taken, "pending": the provider's notification should settle it; ask less and less often meanwhile
        Refund.objects.filter(pk=refund.pk).update(pending_answers=F("pending_answers") + 1,
                                                   next_send_at=now + refund_resend_delay(refund.pending_answers + 1))
        if result.provider_refund_id:
            Refund.objects.filter(pk=refund.pk, provider_refund_id__isnull=True).update(
                provider_refund_id=result.provider_refund_id)
    return Refund.objects.select_related("payment").get(pk=refund_id)


def refund_resend_delay(pending_answers: int) -> timedelta:
    """How long a refund waits before it is asked again after the provider answered "pending" `pending_answers`
    times: REFUND_RESUBMIT_AFTER_MINUTES, doubled with each answer, at most REFUND_RESUBMIT_MAX_MINUTES
    (5, 10, 20 ... 320 minutes, then every 6 hours)."""
    doublings = min(max(pending_answers - 1, 0), 30)  # 2**30 times any base is past every cap
    return timedelta(minutes=min(settings.REFUND_RESUBMIT_AFTER_MINUTES * 2**doublings,
                                 settings.REFUND_RESUBMIT_MAX_MINUTES))


def payment_refund_unowed(*, payment_id: int) -> Refund | None:
    """Send back a capture for an installment no longer owed (system action). Run again (a retry after
    the provider was unavailable), it sends the refund it left pending."""
    with transaction.atomic():
        order, inst, p = _lock_chain(payment_id)
        if p.status not in (P.CAPTURED, P.PARTIALLY_REFUNDED):
            return None
        first_capture = Payment.objects.filter(installment_id=inst.pk, status__in=Payment.CAPTURED_STATUSES) \
            .order_by("captured_at", "pk").values_list("pk", flat=True).first()
        if inst.state not in (I.CANCELLED, I.WAIVED) and first_capture == p.pk:
            return None  # this capture is the installment's own payment
        remaining = p.amount - _refunded_total(p.pk, Refund.COUNTED_STATUSES)
        if remaining > 0:
            refund = Refund.objects.create(payment=p, amount=remaining, currency=p.currency,
                                           reason="payment for an installment no longer owed")
            record_event(order=order, kind="refund.requested", stage=StageInstance(pk=inst.stage_id),
                         payload={"payment": p.pk, "refund": refund.pk, "amount": _money(remaining),
                                  "currency": p.currency, "reason": refund.reason})
            to_send = [refund.pk]
        else:
            # Nothing left to ask for: what counts is the refund an earlier run could not send.
            to_send = list(p.refunds.filter(status=Refund.Status.PENDING).order_by("pk").values_list("pk", flat=True))
    refund = None
    for refund_id in to_send:
        refund = refund_submit(refund_id=refund_id)
    return refund


def refunds_resubmit_stale(*, older_than: timedelta, limit: int = 500) -> int:
    """What an outage left behind, older than `older_than`: captures no longer owed that nobody began
    to send back (the broker lost refund_unowed_payment_task), and refunds still pending (the provider
    was down, the broker lost refund_submit_task, or a notification never came) that are due again
    (`next_send_at`, see refund_resend_delay) or were never sent. Providers refund once per
    refund.reference, so sending one again is safe. Returns how many were sent."""
    now = timezone.now()
    cutoff = now - older_than
    earlier_capture = Payment.objects.filter(installment_id=OuterRef("installment_id"),
                                             status__in=Payment.CAPTURED_STATUSES).filter(
        Q(captured_at__lt=OuterRef("captured_at")) | Q(captured_at=OuterRef("captured_at"), pk__lt=OuterRef("pk")))
    unowed = Payment.objects.filter(status=P.CAPTURED, captured_at__lt=cutoff, refunds__isnull=True).filter(
        Q(installment__state__in=(I.CANCELLED, I.WAIVED)) | Q(Exists(earlier_capture)))
    _report_stuck_refunds(now - timedelta(hours=settings.REFUND_STUCK_AFTER_HOURS))
    # The longest-due first (never sent: since it was made): those a provider never confirms go to the back.
    pending = (Refund.objects.filter(status=Refund.Status.PENDING)
               .filter(Q(next_send_at__lte=now) | Q(next_send_at__isnull=True, created_at__lt=cutoff))
               .annotate(waiting_since=Coalesce("next_send_at", "created_at")))
    down: set[str] = set()  # one unavailable answer per provider and run is enough
    sent = 0
    jobs = [(partial(payment_refund_unowed, payment_id=pk), provider) for pk, provider in
            unowed.order_by("pk").values_list("pk", "provider")[:limit]]
    jobs += [(partial(refund_submit, refund_id=pk), provider) for pk, provider in
             pending.order_by("waiting_since", "pk").values_list("pk", "payment__provider")[:limit]]
    for job, provider in jobs:
        if provider in down:
            continue
        try:
            sent += job() is not None
        except ProviderUnavailable as exc:
            logger.warning("refunds of %s: the provider is unavailable (%s); next run", provider, exc)
            down.add(provider)
    return sent


def _report_stuck_refunds(made_before) -> None:
    """Refunds the provider has not confirmed long after they were made: the consumer is still waiting for the
    money, so the store is told (refund.stuck on the order's record, a message to its managers), once each."""
    for refund_id, payment_id in (Refund.objects.filter(status=Refund.Status.PENDING, created_at__lt=made_before,
                                                        stuck_reported_at__isnull=True)
                                  .order_by("pk").values_list("pk", "payment_id")[:100]):
        with transaction.atomic():
            order, inst, p = _lock_chain(payment_id)
            r = refund_qs_select_for_update().get(pk=refund_id)
            if r.status != Refund.Status.PENDING or r.stuck_reported_at is not None:
                continue
            r.stuck_reported_at = timezone.now()
            r.save(update_fields=["stuck_reported_at"])
            record_event(order=order, kind="refund.stuck", stage=StageInstance(pk=inst.stage_id),
                         payload={"payment": p.pk, "refund": r.pk, "amount": _money(r.amount), "currency": r.currency,
                                  "created_at": r.created_at.isoformat(), "hours": settings.REFUND_STUCK_AFTER_HOURS})


# --- cancellation and expiry ---------------------------------------------------------------------


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
        record_event(order=order, kind="installments.cancelled", actor=actor, payload={"installments": cancelled})
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
            record_event(order=order, kind="refund.requested", actor=actor, stage=StageInstance(pk=inst.stage_id),
                         payload={"payment": p.pk, "refund": refund.pk, "amount": _money(remaining),
                                  "currency": p.currency, "reason": "order cancelled"})
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
        record_event(order=order, kind="payment.expired", stage=StageInstance(pk=inst.stage_id),
                     payload={"installment": inst.pk, "payment": p.pk})
        return True


# --- webhooks ---------------------------------------------------------------------------------


@dataclass
class WebhookResult:
    status: str  # processed | duplicate
    result: str
    delivery_id: int


def _find_payment(event: WebhookEvent, provider: str) -> Payment | None:
    qs = Payment.objects.filter(provider=provider)
    payment = qs.filter(reference=event.payment_reference).first() if event.payment_reference else None
    if payment is None and event.provider_payment_id:
        payment = qs.filter(provider_payment_id=event.provider_payment_id).first()
    return payment


def _process_event(event: WebhookEvent, provider: str) -> tuple[str, Payment | None]:
    if event.type not in EVENT_TYPES:
        return "ignored: unknown event type", None
    payment = _find_payment(event, provider)
    if payment is None:
        return "ignored: unknown payment", None
    if event.type == PAYMENT_PENDING:
        return payment_mark_pending(payment=payment), payment
    if event.type == PAYMENT_SUCCEEDED:
        return payment_capture(payment=payment, amount=event.amount, currency=event.currency), payment
    if event.type == PAYMENT_FAILED:
        return payment_fail(payment=payment), payment
    return _refund_from_event(payment, event, succeeded=event.type == REFUND_SUCCEEDED), payment


def webhook_receive(*, provider: str, headers, raw_body: bytes) -> WebhookResult:
    """Verify, store, deduplicate and apply one provider notification.

    Every delivery is stored. A bad or stale signature or an unreadable body raises a 400
    DomainError and changes nothing else. A verified event is applied at most once: the accepted
    delivery row and the changes it causes commit together, and the unique constraint on
    (provider, provider_event_id) turns every repeat into a `duplicate` that changes nothing.
    Unknown event types and unknown payments are acknowledged (200) and recorded, so the provider
    stops retrying something that retrying cannot fix.
    """
    header_map = {str(k).lower(): str(v) for k, v in dict(headers).items()}
    # Stored as sent, except NUL bytes, which PostgreSQL text cannot hold.
    stored_headers = {k: v[:500].replace("\x00", "\ufffd") for k, v in header_map.items() if k not in SENSITIVE_HEADERS}
    row = {"provider": provider[:30].replace("\x00", "\ufffd"),
           "raw_body": raw_body.decode("utf-8", "replace").replace("\x00", "\ufffd"), "headers": stored_headers}
    try:
        prov = get_provider(provider)
    except NotFound:
        WebhookDelivery.objects.create(**row, status=WebhookDelivery.Status.REJECTED, result="unknown provider")
        raise
    try:
        event = prov.verify_and_parse_webhook(header_map, raw_body)
    except WebhookRejected as exc:
        WebhookDelivery.objects.create(
            **row, status=WebhookDelivery.Status.REJECTED, provider_event_id=exc.claimed_event_id,
            signature_valid=isinstance(exc, MalformedWebhook), result=f"{exc.code}: {exc.detail}"[:300])
        raise DomainError(exc.detail, code=exc.code, status_code=400) from None
    accepted = {"provider_event_id": event.id, "event_type": event.type, "signature_valid": True}
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    delivery = WebhookDelivery.objects.create(**row, **accepted,
                                                              status=WebhookDelivery.Status.ACCEPTED)
            except IntegrityError:
                delivery = None
            if delivery is None:
                dup = WebhookDelivery.objects.create(**row, **accepted, status=WebhookDelivery.Status.DUPLICATE,
                                                     result="duplicate: already applied")
                return WebhookResult(status="duplicate", result=dup.result, delivery_id=dup.pk)
            result, payment = _process_event(event, prov.name)
            delivery.processed, delivery.result, delivery.payment = True, result[:300], payment
            delivery.save(update_fields=["processed", "result", "payment"])
            return WebhookResult(status="processed", result=result, delivery_id=delivery.pk)
    except Exception as exc:
        # Keep the failed delivery for audit; the provider retries (the accepted row rolled back).
        WebhookDelivery.objects.create(**row, **accepted, status=WebhookDelivery.Status.FAILED,
                                       result=f"error: {exc.__class__.__name__}"[:300])
        raise


def sandbox_checkout_complete(*, payment: Payment, outcome: str) -> WebhookResult:
    """What the sandbox checkout page does: send the signed notification a provider would."""
    from payments.providers import sandbox

    if outcome not in ("paid", "failed"):
        raise DomainError("outcome must be 'paid' or 'failed'.", code="invalid",
                          errors={"outcome": ["Must be paid or failed."]})
    if payment.provider != sandbox.SandboxProvider.name:
        raise NotFound("No such sandbox payment.")
    if not payment.is_open:
        raise InvalidTransition(f"This payment is {payment.status}.", allowed=[])
    event_type = PAYMENT_SUCCEEDED if outcome == "paid" else PAYMENT_FAILED
    headers, body = sandbox.build_webhook(event_type, sandbox.payment_event_data(payment))
    return webhook_receive(provider=payment.provider, headers=headers, raw_body=body)


__all__ = [
    "ProviderUnavailable", "installment_pay", "payment_capture", "payment_fail", "payment_refund",
    "refund_settle", "refund_submit", "webhook_receive", "sandbox_checkout_complete",
]
