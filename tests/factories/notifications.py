"""Builders for notification tests: preferences, outbox rows, and events recorded the way the apps do."""

from __future__ import annotations

import factory
from django.db import transaction
from django.utils import timezone

from notifications.models import Notification, NotificationPreference
from tests.factories.tenancy import ConsumerFactory
from workflows import engine
from workflows.events import record_event
from workflows.models import OrderEvent, ServiceOrder

# No payment shares, no vouchers: nothing from the other apps stands between the order and its steps.
PLAIN_VISIT_WORKFLOW = {
    "name": "Plain visit",
    "stages": [
        {"code": "visit", "name": "Measuring visit", "requires_appointment": True, "appointment_minutes": 60},
        {"code": "design", "name": "Design", "requires_approval": True, "max_rework_rounds": 1},
    ],
}


class NotificationPreferenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NotificationPreference
        django_get_or_create = ("user",)

    user = factory.SubFactory(ConsumerFactory)
    email = True
    sms = True


class NotificationFactory(factory.django.DjangoModelFactory):
    """An outbox row for an existing order (pass `order=`); SMS to the consumer by default."""

    class Meta:
        model = Notification

    recipient = factory.LazyAttribute(lambda o: o.order.consumer)
    channel = Notification.Channel.SMS
    kind = "test.message"
    to_address = factory.LazyAttribute(
        lambda o: o.recipient.phone if o.channel == Notification.Channel.SMS else o.recipient.email
    )
    subject = "Hello"
    body = factory.Sequence(lambda n: f"Test message {n}")
    created_at = factory.LazyFunction(timezone.now)
    deliver_after = factory.LazyFunction(timezone.now)


def emit(order: ServiceOrder, kind: str, *, actor=None, stage=None, payload=None, trigger="", from_state="",
         to_state="") -> OrderEvent:
    """Record an event as another app would: order locked, in one transaction."""
    with transaction.atomic():
        locked = engine.lock_order(order.pk)
        return record_event(order=locked, kind=kind, actor=actor, stage=stage, payload=payload or {},
                            trigger=trigger, from_state=from_state, to_state=to_state)
