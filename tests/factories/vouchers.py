"""Builders for voucher tests: orders whose stages need a voucher, driven through the real services."""

from __future__ import annotations

from tests.factories.workflows import make_order, stage_of
from workflows import engine, services
from workflows.models import Appointment, ServiceOrder

# No payment shares: the visit stage is ready (and its voucher issued) as soon as the order exists.
VISIT_WORKFLOW = {
    "name": "Visit with voucher",
    "stages": [
        {"code": "visit", "name": "Visit on site", "requires_appointment": True, "appointment_minutes": 60,
         "requires_voucher": True, "voucher_valid_days": 30},
        {"code": "accept", "name": "Acceptance", "requires_approval": True},
    ],
}

# A paid booking first: the visit's voucher waits for the booking installment.
PAID_THEN_VISIT_WORKFLOW = {
    "name": "Deposit then visit",
    "stages": [
        {"code": "booking", "name": "Booking", "payment_share": 20, "payment_timing": "before"},
        {"code": "visit", "name": "Visit on site", "requires_appointment": True, "appointment_minutes": 60,
         "requires_voucher": True, "voucher_valid_days": 30, "payment_share": 80, "payment_timing": "before"},
    ],
}


def make_voucher_order(*, store, consumer, definition=None, **kwargs) -> ServiceOrder:
    return make_order(store=store, consumer=consumer, definition=definition or VISIT_WORKFLOW, **kwargs)


def book_visit(order: ServiceOrder, *, code: str = "visit", actor=None) -> Appointment:
    """Book the first free slot of the stage, as the order's consumer (or `actor`)."""
    stage = stage_of(order, code)
    slot = services.appointment_slots(stage=stage)[0]
    return services.appointment_book(stage=stage, window_start=slot.start, actor=actor or order.consumer)


def start_visit(appointment: Appointment) -> None:
    engine.fire(order_id=appointment.order_id, trigger="start", actor=appointment.technician,
                stage_id=appointment.stage_id)


def voucher_of(order: ServiceOrder, code: str = "visit"):
    from vouchers.models import Voucher

    return Voucher.objects.get(order=order, stage__definition__code=code)


def code_of(voucher) -> str:
    from vouchers.services import voucher_code

    return voucher_code(voucher)


def check_in(appointment: Appointment):
    """The technician checks in at the service address through the field-work service, on the visit's day (its
    window moved to start soon: a check-in long before it is refused)."""
    import uuid

    from django.utils import timezone

    from fieldwork.services import job_check_in
    from tests.factories.fieldwork import starting_soon

    starting_soon(appointment)
    order = appointment.order
    return job_check_in(technician=appointment.technician, job_id=appointment.pk, client_event_id=uuid.uuid4(),
                        recorded_at=timezone.now(), latitude=order.latitude, longitude=order.longitude,
                        accuracy_m=10.0)
