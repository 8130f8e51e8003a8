"""Builders for field-work tests: a wardrobe variant without payments and vouchers (those apps
plug their own guards in), a booked-and-assigned visit, jobs made directly for list tests, and
real image bytes."""

import copy
import io
import uuid
from datetime import datetime, timedelta

from PIL import Image

from tests.factories.workflows import make_order, make_template, stage_of
from workflows import services
from workflows.models import Appointment, ServiceOrder
from workflows.reference import CUSTOM_WARDROBE


def field_wardrobe() -> dict:
    """The reference wardrobe without payment shares and without vouchers."""
    data = copy.deepcopy(CUSTOM_WARDROBE)
    data["name"] = "Wardrobe (field work only)"
    for stage in data["stages"]:
        stage["payment_share"] = None
        stage["requires_voucher"] = False
    return data


def make_field_template(*, merchant, stores):
    return make_template(merchant=merchant, stores=stores, definition=field_wardrobe())


def make_field_order(*, store, consumer, template=None) -> ServiceOrder:
    template = template or make_field_template(merchant=store.merchant, stores=[store])
    return make_order(store=store, consumer=consumer, template=template)


def book_visit(*, order: ServiceOrder, code: str, consumer, technician=None, manager=None,
               slot_index: int = 0) -> Appointment:
    """Book the stage's first free slot as the consumer, then (optionally) assign it to
    `technician` as the store manager, the way the product does it."""
    stage = stage_of(order, code)
    slots = services.appointment_slots(stage=stage)
    appointment = services.appointment_book(stage=stage, window_start=slots[slot_index].start, actor=consumer)
    if technician is not None:
        appointment = services.appointment_assign(appointment=appointment, technician=technician, actor=manager)
    return appointment


def move_window(appointment: Appointment, start: datetime) -> Appointment:
    """Put the visit's window at `start` (tests of on-time arrival need a window in the past)."""
    length = appointment.window_end - appointment.window_start
    Appointment.objects.filter(pk=appointment.pk).update(window_start=start, window_end=start + length)
    appointment.refresh_from_db()
    return appointment


def starting_soon(appointment: Appointment, minutes: int = 30) -> Appointment:
    """Put a booked visit's window `minutes` from now: the technician is there and may check in (a check-in
    long before the window is refused, and the slots booking offers may be days ahead)."""
    from django.utils import timezone

    return move_window(appointment, timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=minutes))


def make_job(*, order: ServiceOrder, code: str, technician, window_start: datetime,
             minutes: int = 90) -> Appointment:
    """A visit row made directly (no booking rules), for list and query-count tests."""
    stage = stage_of(order, code)
    return Appointment.objects.create(order=order, stage=stage, store=order.store, technician=technician,
                                      window_start=window_start,
                                      window_end=window_start + timedelta(minutes=minutes))


def image_bytes(fmt: str = "PNG", size=(32, 24), color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    return buf.getvalue()


def new_id() -> str:
    return str(uuid.uuid4())
