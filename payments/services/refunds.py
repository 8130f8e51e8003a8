"""Refunds: asked by store staff, by a cancellation or for money no longer owed; sent to the provider
outside any lock, settled from its answer, asked again with back-off while it says "pending"."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from core import display, money
from core.errors import Conflict, DomainError, InvalidTransition
from payments import events
from payments.lock_objects import payment_qs_select_for_update, refund_qs_select_for_update
from payments.models import Installment, LedgerEntry, Payment, Refund
from payments.providers import provider_for
from payments.providers.base import ProviderUnavailable, WebhookEvent
from payments.services.backoff import doubling_delay
from payments.services.settlement import _capture_locked, _differs, _enqueue, _lock_chain, _record_mismatch
from tenancy import policy
from workflows import engine

logger = logging.getLogger("payments.services")
I = Installment.State  # noqa: E741
P = Payment.Status
ZERO = Decimal("0")


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
    events.refund_event(events.PAYMENT_REFUNDED, order=order, installment=inst, refund=refund,
                        actor=refund.requested_by, reason=refund.reason)
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
            return _record_mismatch(order, inst, r, amount, currency)
        if not succeeded:
            if r.status != Refund.Status.PENDING:
                return f"ignored: refund is {r.status}"
            r.status, r.settled_at = Refund.Status.FAILED, timezone.now()
            r.save()
            events.refund_event(events.REFUND_FAILED, order=order, installment=inst, refund=r)
            return "refund failed"
        if r.status == Refund.Status.FAILED and (
                _refunded_total(p.pk, Refund.COUNTED_STATUSES) + r.amount > p.amount):
            return "ignored: would exceed captured"
        return _settle_refund_locked(order, inst, p, r, provider_refund_id)


def _refund_from_event(payment: Payment, event: WebhookEvent, succeeded: bool, *, records_unknown: bool) -> str:
    """A refund notification. One we never asked for is booked only where the provider allows it
    (`records_unknown`: the sandbox's "dashboard"); a real provider's is recorded and the store is told."""
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
    if not records_unknown:
        with transaction.atomic():
            order, inst, p = _lock_chain(payment.pk)
            events.refund_unrecognised(order=order, installment=inst, payment=p, amount=event.amount,
                                       provider_refund_id=event.provider_refund_id,
                                       refund_reference=event.refund_reference)
        return "ignored: a refund never asked for (the store is told)"
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
        raise DomainError(_("Give an amount above zero."), code="invalid",
                          errors={"amount": ["Give an amount above zero."]})
    if error := money.minor_units_error(value, currency):
        raise DomainError(error, code="invalid", errors={"amount": [error]})
    return value


def payment_refund(*, payment: Payment, amount, actor, reason: str = "") -> Refund:
    """Refund part or all of a captured payment (store staff). Never more than what is left:
    the payment row is locked while the pending refunds are counted."""
    if actor is not None:
        policy.require(actor, "refund")
    value = _validate_refund_amount(amount, payment.currency)
    with transaction.atomic():
        order, inst, p = _lock_chain(payment.pk)
        if p.status not in (P.CAPTURED, P.PARTIALLY_REFUNDED):
            raise InvalidTransition(_("This payment is %(status)s; only a captured payment can be refunded.")
                                    % {"status": p.get_status_display()},
                                    allowed=[])
        refundable = p.amount - _refunded_total(p.pk, Refund.COUNTED_STATUSES)
        if value > refundable:
            most = display.money(refundable, p.currency)
            raise Conflict(_("At most %(amount)s can still be refunded.") % {"amount": most},
                           code="refund_exceeds_captured", refundable=str(refundable))
        refund = Refund.objects.create(payment=p, amount=value, currency=p.currency, reason=reason[:300],
                                       requested_by=actor if getattr(actor, "pk", None) else None)
        events.refund_event(events.REFUND_REQUESTED, order=order, installment=inst, refund=refund, actor=actor,
                            reason=refund.reason)
    try:
        return refund_submit(refund_id=refund.pk)
    except ProviderUnavailable as exc:
        # The refund is recorded (and counts against what is refundable): it stays pending and is sent
        # again in the background, instead of a 500 that leaves it pending with nothing to resend it.
        logger.warning("refund %s: the provider is unavailable (%s); queued to be sent again", refund.pk, exc)
        _submit_after_commit([refund.pk])
        return Refund.objects.select_related("payment").get(pk=refund.pk)


def refunds_request_locked(*, order, amount: Decimal, reason: str, actor=None) -> list[Refund]:
    """Ask `amount` back from the order's captured payments, the latest capture first, never more than each
    payment has left (so never more than was captured). The caller holds the order's lock and its installments';
    the refunds are recorded here (refund.requested events) and sent to the provider after the commit."""
    refunds: list[Refund] = []
    left = amount
    captured = payment_qs_select_for_update().filter(order_id=order.pk, status__in=[P.CAPTURED, P.PARTIALLY_REFUNDED])
    for p in sorted(captured, key=lambda p: (p.captured_at, p.pk), reverse=True):
        if left <= ZERO:
            break
        part = min(left, p.amount - _refunded_total(p.pk, Refund.COUNTED_STATUSES))
        if part <= ZERO:
            continue
        refund = Refund.objects.create(payment=p, amount=part, currency=p.currency, reason=reason[:300],
                                       requested_by=actor if getattr(actor, "pk", None) else None)
        inst = Installment.objects.get(pk=p.installment_id)
        events.refund_event(events.REFUND_REQUESTED, order=order, installment=inst, refund=refund, actor=actor,
                            reason=refund.reason)
        refunds.append(refund)
        left -= part
    _submit_after_commit([r.pk for r in refunds])
    return refunds


def _submit_after_commit(refund_ids: list[int]) -> None:
    for refund_id in refund_ids:
        transaction.on_commit(partial(_enqueue, "refund_submit_task", refund_id))


def refund_submit(*, refund_id: int) -> Refund:
    """Send a pending refund to the provider (outside any transaction) and record its answer.
    ProviderUnavailable propagates (the task retries); the refund stays pending meanwhile."""
    refund = Refund.objects.select_related("payment__account").get(pk=refund_id)
    if refund.status != Refund.Status.PENDING:
        return refund
    now = timezone.now()
    sent_before = refund.last_sent_at is not None
    # Asked now; with no answer (ProviderUnavailable) it is due again after the first delay, not a longer one, so
    # refunds go as soon as the provider is back.
    Refund.objects.filter(pk=refund.pk).update(last_sent_at=now, next_send_at=now + refund_resend_delay(1))
    provider = provider_for(refund.payment)
    result = None
    if sent_before and provider.can_query:
        # Asked before: what does the provider know of it? Sent again only when it has none.
        result = provider.query_refund(refund)
    if result is None or result.status == "unknown":
        result = provider.refund(refund.payment, refund.amount, refund)
    if result.status in ("succeeded", "failed"):
        refund_settle(refund=refund, succeeded=result.status == "succeeded",
                      provider_refund_id=result.provider_refund_id, amount=result.amount)
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
    return doubling_delay(pending_answers, base_minutes=settings.REFUND_RESUBMIT_AFTER_MINUTES,
                          max_minutes=settings.REFUND_RESUBMIT_MAX_MINUTES)


def payment_refund_unowed(*, payment_id: int) -> Refund | None:
    """Send back a capture for an installment no longer owed (system action). Run again (a retry after
    the provider was unavailable), it sends the refund it left pending."""
    with transaction.atomic():
        order, inst, p = _lock_chain(payment_id)
        if p.status not in (P.CAPTURED, P.PARTIALLY_REFUNDED):
            return None
        # The installment's own payment: its first capture of the amount it owes (a revision may have changed it).
        first_capture = Payment.objects.filter(installment_id=inst.pk, status__in=Payment.CAPTURED_STATUSES,
                                               amount=inst.amount) \
            .order_by("captured_at", "pk").values_list("pk", flat=True).first()
        if inst.state not in (I.CANCELLED, I.WAIVED) and first_capture == p.pk:
            return None  # this capture is the installment's own payment
        remaining = p.amount - _refunded_total(p.pk, Refund.COUNTED_STATUSES)
        if remaining > 0:
            refund = Refund.objects.create(payment=p, amount=remaining, currency=p.currency,
                                           reason="payment for an installment no longer owed")
            events.refund_event(events.REFUND_REQUESTED, order=order, installment=inst, refund=refund,
                                reason=refund.reason)
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
                                             status__in=Payment.CAPTURED_STATUSES,
                                             amount=OuterRef("installment__amount")).filter(
        Q(captured_at__lt=OuterRef("captured_at")) | Q(captured_at=OuterRef("captured_at"), pk__lt=OuterRef("pk")))
    unowed = Payment.objects.filter(status=P.CAPTURED, captured_at__lt=cutoff, refunds__isnull=True).filter(
        Q(installment__state__in=(I.CANCELLED, I.WAIVED)) | Q(Exists(earlier_capture))
        | ~Q(amount=F("installment__amount")))
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
            events.refund_event(events.REFUND_STUCK, order=order, installment=inst, refund=r,
                                created_at=r.created_at.isoformat(), hours=settings.REFUND_STUCK_AFTER_HOURS)
