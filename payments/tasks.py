"""Celery tasks of the payments app: ids in, the service re-reads under lock and does nothing when
the work is already done, so retries and acks_late are safe.

Periodic (in CELERY_BEAT_SCHEDULE): payments_expire_stale_task, refunds_resubmit_stale_task,
payments_query_pending_task and payments_reconcile_yesterday_task.
"""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from payments.models import Payment, ReconciliationRun
from payments.providers.base import ProviderUnavailable

logger = logging.getLogger("payments.tasks")


def attempt_ttl() -> timedelta:
    return timedelta(minutes=settings.PAYMENT_ATTEMPT_TTL_MINUTES)


def refund_resubmit_after() -> timedelta:
    return timedelta(minutes=settings.REFUND_RESUBMIT_AFTER_MINUTES)


@shared_task(acks_late=True)
def payments_expire_stale_task() -> int:
    """Close payment attempts left open longer than PAYMENT_ATTEMPT_TTL_MINUTES (default 30);
    their installments become payable again. Periodic. An attempt at a real provider is asked first: one paid
    whose notification was lost is captured, not expired; one the provider cannot be asked about now stays open
    until the next run."""
    from payments.services import payment_expire, payment_reconcile

    cutoff = timezone.now() - attempt_ttl()
    rows = list(Payment.objects.filter(status__in=Payment.OPEN_STATUSES, created_at__lt=cutoff)
                .order_by("pk").values_list("pk", "provider")[:500])
    expired = 0
    for pk, provider in rows:
        if provider != "sandbox":
            try:
                answer = payment_reconcile(payment_id=pk)
            except ProviderUnavailable as exc:
                logger.warning("payment %s not expired: its provider could not be asked (%s)", pk, exc)
                continue
            if answer in ("captured", "captured_unowed", "failed") or answer.startswith("ignored: payment is"):
                continue  # settled from the answer, or not open any more
        expired += payment_expire(payment_id=pk)
    return expired


@shared_task(acks_late=True)
def payments_query_pending_task() -> int:
    """Ask the providers about open attempts whose notification has not come (PAYMENT_QUERY_AFTER_MINUTES after
    they started, then less and less often) and settle them from the answers. Periodic."""
    from payments.services import payments_query_pending

    return payments_query_pending()


@shared_task(acks_late=True)
def payment_reconcile_task(payment_id: int) -> str:
    """Ask the provider about one open attempt now (e.g. from the admin)."""
    from payments.services import payment_reconcile

    return payment_reconcile(payment_id=payment_id)


@shared_task(acks_late=True)
def payments_reconcile_yesterday_task() -> int:
    """Compare yesterday's (TIME_ZONE) payments and refunds with the providers' answers and tell platform
    operators about differences (ReconciliationRun in the admin, an email to ADMINS). Once per day: a day already
    reconciled is not done again by this job (the command can). Periodic, at 03:30."""
    from payments.services import payments_reconcile

    yesterday = timezone.localdate() - timedelta(days=1)
    if ReconciliationRun.objects.filter(day=yesterday, finished_at__isnull=False).exists():
        return 0
    return payments_reconcile(day=yesterday).difference_count


@shared_task(bind=True, acks_late=True, autoretry_for=(ProviderUnavailable,), retry_backoff=30, max_retries=8)
def refund_submit_task(self, refund_id: int) -> str:
    """Send one pending refund to its provider (queued on commit, e.g. by order cancellation)."""
    from payments.services import refund_submit

    return refund_submit(refund_id=refund_id).status


@shared_task(bind=True, acks_late=True, autoretry_for=(ProviderUnavailable,), retry_backoff=30, max_retries=8)
def refund_unowed_payment_task(self, payment_id: int) -> str:
    """Send back a capture for an installment no longer owed (late capture after cancel, double pay)."""
    from payments.services import payment_refund_unowed

    refund = payment_refund_unowed(payment_id=payment_id)
    return refund.status if refund else "nothing to refund"


@shared_task(acks_late=True)
def refunds_resubmit_stale_task() -> int:
    """Send again what an outage of the provider or the broker left undone: pending refunds due again (after
    REFUND_RESUBMIT_AFTER_MINUTES, doubling with each ask up to REFUND_RESUBMIT_MAX_MINUTES), and unowed captures
    nobody began to send back. Periodic."""
    from payments.services import refunds_resubmit_stale

    return refunds_resubmit_stale(older_than=refund_resubmit_after())
