from celery import shared_task

from core.idempotency import purge_expired_keys


@shared_task(name="core.tasks.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Drop stored Idempotency-Key responses past their TTL (24 h by default)."""
    return purge_expired_keys()
