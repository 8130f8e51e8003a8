"""Celery tasks of the payments app: ids in, the service re-reads under lock and does nothing when
the work is already done, so retries and acks_late are safe.

Periodic (in CELERY_BEAT_SCHEDULE): payments_expire_stale_task and refunds_resubmit_stale_task.
"""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from payments.models import Payment
from payments.providers.base import ProviderUnavailable


def attempt_ttl() -> timedelta:
    return timedelta(minutes=getattr(settings, "PAYMENT_ATTEMPT_TTL_MINUTES", 30))


def refund_resubmit_after() -> timedelta:
    return timedelta(minutes=settings.REFUND_RESUBMIT_AFTER_MINUTES)


@shared_task(acks_late=True)
def payments_expire_stale_task() -> int:
    """Close payment attempts left open longer than PAYMENT_ATTEMPT_TTL_MINUTES (default 30);
    their installments become payable again. Periodic."""
    from payments.services import payment_expire

    cutoff = timezone.now() - attempt_ttl()
    ids = list(Payment.objects.filter(status__in=Payment.OPEN_STATUSES, created_at__lt=cutoff)
               .order_by("pk").values_list("pk", flat=True)[:500])
    return sum(1 for pk in ids if payment_expire(payment_id=pk))


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
