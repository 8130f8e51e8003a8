"""Periodic voucher tasks (add to CELERY_BEAT_SCHEDULE): both are idempotent and re-read under lock."""

from celery import shared_task

from vouchers import services, throttle


@shared_task(acks_late=True)
def expire_vouchers() -> int:
    """Expire vouchers past valid_until, 500 at a time, each with a "voucher.expired" event."""
    return services.vouchers_expire_due(batch_size=500)


@shared_task(acks_late=True)
def remind_expiring_vouchers() -> int:
    """Record one "voucher.expiring" event per voucher 3 days before it expires (notifications listen)."""
    return services.vouchers_remind_expiring()


@shared_task(acks_late=True)
def purge_redeem_failure_counters() -> int:
    """Drop failed-attempt counters of windows long past."""
    return throttle.purge_old_counters()
