"""A technician sees an order (its detail, stages, files and vouchers) through their visits to it, but not
through a visit that was cancelled: one moved to a colleague, or cancelled with its order, no longer shows the
consumer's order to the technician who was to go."""

import pytest

from tenancy.scoping import visible_to
from tests.factories.vouchers import book_visit, make_voucher_order
from vouchers.models import Voucher
from workflows import services
from workflows.models import Appointment, ServiceOrder, StageInstance

pytestmark = pytest.mark.django_db


def test_a_visit_moved_to_a_colleague_no_longer_shows_the_order(client_for, store, consumer, store_manager,
                                                               technician, technician2):
    order = make_voucher_order(store=store, consumer=consumer, actor=store_manager)
    visit = book_visit(order)
    first = visit.technician
    second = technician2 if first == technician else technician
    later = services.appointment_slots(stage=visit.stage)[1].start
    # The first technician takes another order's visit at that later time, so the move goes to the colleague.
    other = make_voucher_order(store=store, consumer=consumer, actor=store_manager)
    busy = services.appointment_book(stage=other.stages.get(definition__code="visit"), window_start=later,
                                     actor=consumer)
    assert busy.technician == first
    moved = services.appointment_reschedule(appointment=visit, window_start=later, actor=store_manager)
    assert moved.technician == second
    assert Appointment.objects.get(pk=visit.pk).state == Appointment.State.CANCELLED

    assert client_for(first).get(f"/api/v1/orders/{order.pk}/").status_code == 404
    assert order.pk not in [o["id"] for o in client_for(first).get("/api/v1/orders/").json()["results"]]
    assert not visible_to(Voucher.objects.filter(order=order), first).exists()
    assert not visible_to(StageInstance.objects.filter(order=order), first).exists()
    assert client_for(first).get(f"/api/v1/orders/{other.pk}/").status_code == 200  # their live visit
    assert client_for(second).get(f"/api/v1/orders/{order.pk}/").status_code == 200
    assert visible_to(Voucher.objects.filter(order=order), second).exists()


def test_an_order_cancelled_before_the_visit_disappears_from_its_technician(client_for, store, consumer,
                                                                          store_manager, technician):
    order = make_voucher_order(store=store, consumer=consumer, actor=store_manager)
    assert book_visit(order).technician == technician
    assert client_for(technician).get(f"/api/v1/orders/{order.pk}/").status_code == 200
    services.order_cancel(order=ServiceOrder.objects.get(pk=order.pk), actor=store_manager, reason="moved")
    assert client_for(technician).get(f"/api/v1/orders/{order.pk}/").status_code == 404


def test_every_visit_state_but_cancelled_shows_the_order():
    (lookup, states), = ServiceOrder.tenant_scope.technician_where
    assert lookup == "appointments__state__in"
    assert set(states) == set(Appointment.State.values) - {Appointment.State.CANCELLED}
