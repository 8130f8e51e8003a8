"""Builders for insights tests: rows with explicit timestamps, so figures can be checked by hand."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from unittest import mock

from django.db import transaction

from insights.models import SlaBreach, WebhookEndpoint
from payments import services as payment_services
from payments.models import Installment, Payment
from workflows import engine
from workflows.events import record_event
from workflows.models import OrderEvent, ServiceOrder, StageInstance


@contextmanager
def event_time(at: datetime):
    """Events recorded inside get `created_at = at` (the hash covers it, so the chain stays valid)."""
    with mock.patch("workflows.events.timezone.now", return_value=at):
        yield


def record_checkin(*, order: ServiceOrder, technician, at: datetime, on_time: bool = True, early: bool = False,
                   outside_radius: bool = False, distance_m: float = 40.0) -> OrderEvent:
    """A "job.checked_in" event as fieldwork writes it (the metrics read these events)."""
    with transaction.atomic(), event_time(at):
        locked = engine.lock_order(order.pk)
        return record_event(order=locked, kind="job.checked_in", actor=technician, payload={
            "on_time": on_time, "early": early, "outside_radius": outside_radius, "distance_m": distance_m,
        })


def finish_stage(order: ServiceOrder, code: str, *, entered_at: datetime, completed_at: datetime,
                 rework_rounds: int = 0) -> StageInstance:
    StageInstance.objects.filter(order=order, definition__code=code).update(
        state=StageInstance.State.DONE, entered_at=entered_at, completed_at=completed_at,
        rework_rounds=rework_rounds,
    )
    return StageInstance.objects.get(order=order, definition__code=code)


def make_breach(*, order: ServiceOrder, kind: str, detected_at: datetime, stage: StageInstance | None = None,
                **extra) -> SlaBreach:
    stage = stage or order.stages.order_by("position").first()
    return SlaBreach.objects.create(kind=kind, order=order, merchant_id=order.merchant_id, store_id=order.store_id,
                                    stage=stage, due_at=detected_at, detected_at=detected_at, **extra)


def pay(installment: Installment, payer) -> Payment:
    """Pay an installment through the real services (sandbox provider): charge in the ledger."""
    result = payment_services.installment_pay(installment=installment, actor=payer)
    payment_services.payment_capture(payment=result.payment)
    return Payment.objects.get(pk=result.payment.pk)


def make_endpoint(*, merchant, url: str, **kwargs) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(merchant=merchant, url=url, **kwargs)
