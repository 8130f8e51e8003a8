"""Asking the providers instead of waiting for them.

- payment_reconcile: an open attempt at a real provider whose notification has not come is asked of the provider
  and settled from the answer (paid: captured; closed: failed; still waiting: asked again twice as late). The
  periodic payments_query_pending_task runs it for the attempts due (PAYMENT_QUERY_AFTER_MINUTES after they
  started), and the expiry asks once more before it closes an attempt, so a payment whose notification was lost is
  not expired. Pending refunds are asked the same way by refund_submit (services/refunds.py).
- reconcile_day: a day's payments and refunds at the real providers compared with the ledger, every difference
  reported; payments_reconcile records it for platform operators and on each order concerned.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import mail_admins
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from payments import events
from payments.models import LedgerEntry, Payment, ReconciliationRun, Refund
from payments.providers import provider_for
from payments.providers.base import ProviderUnavailable
from payments.services.backoff import doubling_delay
from payments.services.settlement import _differs, _lock_chain, payment_capture, payment_fail
from workflows.models import OrderEvent

logger = logging.getLogger("payments.services")
P = Payment.Status


def payment_query_delay(waiting_answers: int) -> timedelta:
    return doubling_delay(waiting_answers, base_minutes=settings.PAYMENT_QUERY_AFTER_MINUTES,
                          max_minutes=settings.PAYMENT_QUERY_MAX_MINUTES)


def _mismatch_told(payment: Payment) -> bool:
    return OrderEvent.objects.filter(order_id=payment.order_id, kind=events.PAYMENT_AMOUNT_MISMATCH.name,
                                     payload__payment=payment.pk).exists()


def payment_reconcile(*, payment_id: int) -> str:
    """Ask the provider about one open attempt and settle it from the answer. ProviderUnavailable propagates (the
    attempt stays due: asked again at the next run)."""
    payment = Payment.objects.select_related("account").get(pk=payment_id)
    if not payment.is_open:
        return f"ignored: payment is {payment.status}"
    provider = provider_for(payment)
    if not provider.can_query:
        return "ignored: the provider cannot be asked"
    now = timezone.now()
    Payment.objects.filter(pk=payment.pk).update(last_queried_at=now, next_query_at=now + payment_query_delay(1))
    status = provider.query_payment(payment)
    if status.state == "paid":
        if _differs(payment, status.amount, status.currency) and _mismatch_told(payment):
            result = "ignored: amount mismatch (already told)"
        else:
            result = payment_capture(payment=payment, amount=status.amount, currency=status.currency,
                                     provider_payment_id=status.provider_payment_id)
        if not result.startswith("ignored: amount mismatch"):
            return result
    elif status.state == "closed":
        return payment_fail(payment=payment)
    # Still waiting (or not at the provider yet: nobody opened the cashier): ask again later, less often.
    Payment.objects.filter(pk=payment.pk).update(
        waiting_answers=F("waiting_answers") + 1,
        next_query_at=now + payment_query_delay(payment.waiting_answers + 1))
    return "waiting" if status.state != "paid" else "ignored: amount mismatch"


def payments_query_pending(*, limit: int = 200) -> int:
    """Ask the providers about open attempts due to be asked: started PAYMENT_QUERY_AFTER_MINUTES ago and never
    asked, or due again (`next_query_at`). The longest-due first; one unavailable answer per account ends that
    account's turn until the next run. Returns how many were settled (captured or failed)."""
    now = timezone.now()
    first_due = now - timedelta(minutes=settings.PAYMENT_QUERY_AFTER_MINUTES)
    due = (Payment.objects.filter(status__in=Payment.OPEN_STATUSES).exclude(provider="sandbox")
           .filter(Q(next_query_at__lte=now) | Q(next_query_at__isnull=True, created_at__lte=first_due))
           .annotate(due_since=Coalesce("next_query_at", "created_at"))
           .order_by("due_since", "pk").values_list("pk", "account_id")[:limit])
    down: set = set()
    settled = 0
    for payment_id, account_id in due:
        if account_id in down:
            continue
        try:
            result = payment_reconcile(payment_id=payment_id)
        except ProviderUnavailable as exc:
            logger.warning("payments of account %s: the provider is unavailable (%s); next run", account_id, exc)
            down.add(account_id)
            continue
        settled += result in ("captured", "captured_unowed", "failed")
    return settled


# --- a day's ledger against the providers -------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    order: int
    order_number: str
    payment: int
    refund: int | None
    difference: str  # a stable code: paid_not_booked, booked_not_paid, amount_differs, refunded_not_booked ...
    ledger: str  # what our ledger says, for people
    provider_says: str

    def line(self) -> str:
        what = f"refund {self.refund} of payment {self.payment}" if self.refund else f"payment {self.payment}"
        return (f"order {self.order_number} {what}: {self.difference} (ledger: {self.ledger}; "
                f"provider: {self.provider_says})")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class DayReport:
    day: date
    payments_checked: int = 0
    refunds_checked: int = 0
    unanswered: int = 0
    differences: list[Difference] | None = None


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The day in the service's time zone (TIME_ZONE, Beijing time: the providers' bills use it too)."""
    start = datetime.combine(day, time.min, tzinfo=ZoneInfo(settings.TIME_ZONE))
    return start, start + timedelta(days=1)


def _payment_difference(p: Payment, charged: bool, status) -> tuple[str, str, str] | None:
    money = f"{p.amount} {p.currency}"
    says = f"{status.detail or status.state}" + (f" {status.amount}" if status.amount is not None else "")
    if status.state == "paid":
        if not charged:
            return "paid_not_booked", f"{p.status}, no charge", says
        if status.amount is not None and status.amount != p.amount:
            return "amount_differs", f"charged {money}", says
        return None
    if charged and not (status.state == "closed" and p.status == P.REFUNDED):  # a fully refunded trade is closed
        return "booked_not_paid", f"charged {money}", says
    return None


def _refund_difference(r: Refund, result) -> tuple[str, str, str] | None:
    booked = r.status == Refund.Status.SUCCEEDED
    says = result.status + (f" {result.amount}" if result.amount is not None else "")
    if result.status == "succeeded" and not booked:
        return "refunded_not_booked", f"refund {r.status}", says
    if booked and result.status != "succeeded":
        return "booked_not_refunded", f"refunded {r.amount} {r.currency}", says
    if booked and result.amount is not None and result.amount != r.amount:
        return "amount_differs", f"refunded {r.amount} {r.currency}", says
    return None


def reconcile_day(day: date) -> DayReport:
    """Every payment and refund made on `day` at a real provider, asked of the provider and compared with the
    ledger. Only reads: settling what differs is for a person (or, for open attempts, payment_reconcile)."""
    start, end = day_bounds(day)
    report = DayReport(day=day, differences=[])
    payments = (Payment.objects.filter(created_at__gte=start, created_at__lt=end).exclude(provider="sandbox")
                .select_related("account", "order").order_by("pk"))
    charged = set(LedgerEntry.objects.filter(payment__in=payments, kind=LedgerEntry.Kind.CHARGE)
                  .values_list("payment_id", flat=True))
    for p in payments:
        try:
            found = _payment_difference(p, p.pk in charged, provider_for(p).query_payment(p))
        except ProviderUnavailable as exc:
            logger.warning("reconcile %s: payment %s unanswered (%s)", day, p.pk, exc)
            report.unanswered += 1
            continue
        report.payments_checked += 1
        if found:
            report.differences.append(Difference(p.order_id, p.order.number, p.pk, None, *found))
    refunds = (Refund.objects.filter(created_at__gte=start, created_at__lt=end).exclude(payment__provider="sandbox")
               .select_related("payment__account", "payment__order").order_by("pk"))
    for r in refunds:
        try:
            found = _refund_difference(r, provider_for(r.payment).query_refund(r))
        except ProviderUnavailable as exc:
            logger.warning("reconcile %s: refund %s unanswered (%s)", day, r.pk, exc)
            report.unanswered += 1
            continue
        report.refunds_checked += 1
        if found:
            report.differences.append(Difference(r.payment.order_id, r.payment.order.number, r.payment_id, r.pk,
                                                 *found))
    return report


def payments_reconcile(*, day: date) -> ReconciliationRun:
    """reconcile_day, recorded: a ReconciliationRun for platform operators (the admin; an email to ADMINS when
    something differs) and, once per payment or refund and difference, `payment.reconciliation_difference` on the
    order's record (its store is told)."""
    run = ReconciliationRun.objects.create(day=day)
    report = reconcile_day(day)
    for diff in report.differences:
        with transaction.atomic():
            order, inst, payment = _lock_chain(diff.payment)
            recorded = OrderEvent.objects.filter(
                order_id=order.pk, kind=events.RECONCILIATION_DIFFERENCE.name, payload__payment=diff.payment,
                payload__refund=diff.refund, payload__difference=diff.difference).exists()
            if not recorded:
                refund = Refund.objects.get(pk=diff.refund) if diff.refund else None
                events.reconciliation_difference(order=order, installment=inst, payment=payment, refund=refund,
                                                 day=day.isoformat(), difference=diff.difference,
                                                 ledger=diff.ledger, provider_says=diff.provider_says)
    run.payments_checked, run.refunds_checked = report.payments_checked, report.refunds_checked
    run.unanswered, run.difference_count = report.unanswered, len(report.differences)
    run.differences = [d.as_dict() for d in report.differences]
    run.finished_at = timezone.now()
    run.save()
    if report.differences or report.unanswered:
        lines = [d.line() for d in report.differences]
        if report.unanswered:
            lines.append(f"{report.unanswered} payments or refunds could not be asked (provider unavailable).")
        logger.warning("reconciliation of %s: %s differences, %s unanswered", day, len(report.differences),
                       report.unanswered)
        mail_admins(f"Payment reconciliation {day}: {len(report.differences)} differences", "\n".join(lines),
                    fail_silently=True)
    return run
