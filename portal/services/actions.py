"""What the consumer does from the page, as the order's consumer: the same services, rules and events as the
consumer's API calls (workflows.services; the engine asks tenancy.policy on every trigger). The page's view
checks the device's session first; these only make sure the stage or visit is this order's (else NotFound)."""

from __future__ import annotations

from datetime import datetime

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from core.errors import DomainError, NotFound
from workflows import services
from workflows.models import Appointment, ServiceOrder, StageInstance


def _stage(order: ServiceOrder, stage_id: int) -> StageInstance:
    stage = StageInstance.objects.select_related("definition").filter(pk=stage_id, order_id=order.pk).first()
    if stage is None:
        raise NotFound(_("No such step."))
    return stage


def _window(value: str) -> datetime:
    start = parse_datetime(value or "") if isinstance(value, str) else None
    if start is None or start.tzinfo is None:
        raise DomainError(_("Choose one of the offered times."), code="invalid",
                          errors={"window_start": ["Required."]})
    return start


def work_approve(*, order: ServiceOrder, stage_id: int):
    return services.stage_approve(stage=_stage(order, stage_id), actor=order.consumer)


def work_reject(*, order: ServiceOrder, stage_id: int, reason: str):
    return services.stage_reject(stage=_stage(order, stage_id), actor=order.consumer, reason=(reason or "")[:1000])


def visit_book(*, order: ServiceOrder, stage_id: int, window_start: str) -> Appointment:
    return services.appointment_book(stage=_stage(order, stage_id), window_start=_window(window_start),
                                     actor=order.consumer)


def visit_move(*, order: ServiceOrder, appointment_id: int, window_start: str) -> Appointment:
    appointment = Appointment.objects.filter(pk=appointment_id, order_id=order.pk).first()
    if appointment is None:
        raise NotFound(_("No such visit."))
    return services.appointment_reschedule(appointment=appointment, window_start=_window(window_start),
                                           actor=order.consumer)
