"""Periodic housekeeping of the fieldwork app."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from fieldwork.models import ClientEvent

MIN_RETENTION_DAYS = 7


def client_events_purge(*, now=None) -> int:
    """Forget stored answers to client_event_ids older than the retention (at least 7 days, and
    longer than a phone may stay offline). The records themselves (check-ins, evidence...) stay,
    and their own unique constraints still refuse a duplicate."""
    days = max(MIN_RETENTION_DAYS, settings.DEVICE_MAX_OFFLINE_DAYS + 1,
               getattr(settings, "CLIENT_EVENT_RETENTION_DAYS", 30))
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted, _ = ClientEvent.objects.filter(created_at__lt=cutoff).delete()
    return deleted


@shared_task(acks_late=True)
def client_events_purge_task() -> int:
    return client_events_purge()
