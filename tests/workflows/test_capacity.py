"""Capacity (issue 21, point 2): a store's daily capacity per required skill and the travel buffer between one
technician's visits. Slots, bookings, moves and staff assignment respect both; a full day is a 409
`capacity_full`; cancelled visits give their place back. The race of 32 bookings for the last place is in
tests/concurrency/test_capacity_races.py (PostgreSQL)."""

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.errors import Conflict
from tenancy.models import Store, StoreCapacity
from tests.admin.conftest import web
from tests.factories.tenancy import ConsumerFactory
from tests.factories.workflows import make_order, make_template, stage_of
from tests.tenancy.test_admin_isolation import store_form
from workflows import services
from workflows.models import Appointment

pytestmark = pytest.mark.django_db

INSTALL = {
    "name": "Installation",
    "stages": [{"code": "install", "name": "Install", "requires_appointment": True, "appointment_minutes": 60,
                "required_skill": "install"}],
}
MEASURE = {
    "name": "Measuring",
    "stages": [{"code": "measure", "name": "Measure", "requires_appointment": True, "appointment_minutes": 60,
                "required_skill": "measure"}],
}


def working_day(store, after: int = 1):
    """The store's `after`-th working day after today."""
    day = timezone.now().astimezone(store.tzinfo).date()
    while after:
        day += timedelta(days=1)
        after -= day.weekday() in store.working_days
    return day


def at(store, day, hour) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=store.tzinfo)


def days_of(store, slots) -> set:
    return {s.start.astimezone(store.tzinfo).date() for s in slots}


@pytest.fixture
def template(store, technician, technician2):
    return make_template(merchant=store.merchant, stores=[store], definition=INSTALL)


@pytest.fixture
def install_stage(store, template):
    """A fresh order's installation stage, ready to book."""

    def make():
        return stage_of(make_order(store=store, consumer=ConsumerFactory(), template=template), "install")

    return make


def book(stage, when):
    return services.appointment_book(stage=stage, window_start=when, actor=stage.order.consumer)


def set_capacity(store, skill, n):
    StoreCapacity.objects.update_or_create(store=store, skill=skill, defaults={"visits_per_day": n})


# --- daily capacity ------------------------------------------------------------------------------------------


def test_a_full_day_offers_no_slots_and_refuses_a_booking(store, install_stage, client_for):
    set_capacity(store, "install", 2)
    day, next_day = working_day(store), working_day(store, 2)
    book(install_stage(), at(store, day, 9))
    stage = install_stage()
    assert day in days_of(store, services.appointment_slots(stage=stage))  # one place left
    book(install_stage(), at(store, day, 14))

    slots = services.appointment_slots(stage=stage)
    assert day not in days_of(store, slots) and next_day in days_of(store, slots)
    response = client_for(stage.order.consumer).post(
        f"/api/v1/orders/{stage.order_id}/appointments/",
        {"stage": stage.pk, "window_start": at(store, day, 11).isoformat()}, format="json")
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "capacity_full" and body["day"] == day.isoformat() and body["skill"] == "install"
    assert "已约满" in body["detail"]  # Chinese by default
    assert not Appointment.objects.filter(stage=stage).exists()
    assert book(stage, at(store, next_day, 9)).technician_id  # another day is open


def test_the_refusal_reads_in_english_for_an_english_reader(store, install_stage, english):
    set_capacity(store, "install", 0)
    with pytest.raises(Conflict) as refused:
        book(install_stage(), at(store, working_day(store), 9))
    assert refused.value.code == "capacity_full"
    assert "fully booked" in str(refused.value.detail)


def test_capacity_counts_only_its_skill_and_no_row_is_unlimited(store, install_stage, consumer):
    set_capacity(store, "measure", 0)  # no measuring at this store, any day
    day = working_day(store)
    for hour in (9, 10, 11):  # no install capacity: unlimited (two technicians, one visit each per hour)
        book(install_stage(), at(store, day, hour))
    measuring = stage_of(make_order(store=store, consumer=consumer, definition=MEASURE), "measure")
    assert services.appointment_slots(stage=measuring) == []
    set_capacity(store, "install", 3)
    assert day not in days_of(store, services.appointment_slots(stage=install_stage()))
    set_capacity(store, "measure", 1)  # the three installations take no measuring place
    assert day in days_of(store, services.appointment_slots(stage=measuring))


def test_a_day_is_the_store_local_day(store, install_stage):
    """In Los Angeles a visit at 17:00 is 01:00 UTC the next day: it takes its place on its own local day."""
    store.timezone = "America/Los_Angeles"
    store.save()
    set_capacity(store, "install", 1)
    day, next_day = working_day(store), working_day(store, 2)
    book(install_stage(), at(store, day, 17))
    slots = services.appointment_slots(stage=install_stage())
    assert day not in days_of(store, slots) and next_day in days_of(store, slots)
    assert book(install_stage(), at(store, next_day, 9))


def test_cancelled_visits_give_their_place_back(store, install_stage, store_manager):
    set_capacity(store, "install", 1)
    day = working_day(store)
    first = book(install_stage(), at(store, day, 9))
    stage = install_stage()
    assert day not in days_of(store, services.appointment_slots(stage=stage))
    services.order_cancel(order=first.order, actor=store_manager, reason="The consumer changed their mind.")
    assert Appointment.objects.get(pk=first.pk).state == Appointment.State.CANCELLED
    assert day in days_of(store, services.appointment_slots(stage=stage))
    assert book(stage, at(store, day, 9))


def test_a_visit_done_or_missed_keeps_its_place(store, install_stage):
    set_capacity(store, "install", 1)
    day = working_day(store)
    visit = book(install_stage(), at(store, day, 9))
    services.appointment_mark_no_show(appointment=visit)
    with pytest.raises(Conflict) as refused:
        book(install_stage(), at(store, day, 11))
    assert refused.value.code == "capacity_full"


def test_moving_within_the_day_counts_once_and_onto_a_full_day_is_refused(store, install_stage, client_for,
                                                                         store_manager):
    set_capacity(store, "install", 1)
    day, next_day = working_day(store), working_day(store, 2)
    first = book(install_stage(), at(store, day, 9))
    second = book(install_stage(), at(store, next_day, 9))
    # The visit's own day is still offered to it (its place is its own), the other visit's day is not.
    assert day in days_of(store, services.appointment_slots(stage=first.stage))
    assert day not in days_of(store, services.appointment_slots(stage=second.stage))

    moved = services.appointment_reschedule(appointment=first, window_start=at(store, day, 15), actor=store_manager)
    assert moved.window_start == at(store, day, 15)
    response = client_for(second.order.consumer).post(
        f"/api/v1/appointments/{second.pk}/reschedule/", {"window_start": at(store, day, 11).isoformat()},
        format="json")
    assert response.status_code == 409 and response.json()["code"] == "capacity_full", response.content
    assert Appointment.objects.get(pk=second.pk).state == Appointment.State.BOOKED
    # Moving away frees the day for the other.
    services.appointment_reschedule(appointment=moved, window_start=at(store, working_day(store, 3), 9),
                                    actor=store_manager)
    assert services.appointment_reschedule(appointment=second, window_start=at(store, day, 11), actor=store_manager)


def test_lowering_the_capacity_keeps_booked_visits(store, install_stage):
    day = working_day(store)
    visits = [book(install_stage(), at(store, day, hour)) for hour in (9, 10)]
    set_capacity(store, "install", 1)
    assert all(Appointment.objects.get(pk=v.pk).state == Appointment.State.BOOKED for v in visits)
    assert day not in days_of(store, services.appointment_slots(stage=install_stage()))


# --- the travel buffer -----------------------------------------------------------------------------------------


def test_the_buffer_removes_the_adjacent_windows_of_that_technician_only(store, install_stage, technician,
                                                                        technician2):
    store.travel_buffer_minutes = 30
    store.save()
    day = working_day(store)
    booked = book(install_stage(), at(store, day, 10))  # 10:00-11:00, the first technician
    assert booked.technician_id == technician.pk
    free = {s.start.astimezone(store.tzinfo).hour: s.free_technicians
            for s in services.appointment_slots(stage=install_stage())
            if s.start.astimezone(store.tzinfo).date() == day}
    # 09:00-10:00 ends and 11:00-12:00 starts within 30 minutes of the visit: only the other technician is free.
    assert (free[9], free[10], free[11], free[12]) == (1, 1, 1, 2)
    assert book(install_stage(), at(store, day, 11)).technician_id == technician2.pk


def test_with_one_technician_the_buffer_hides_the_windows_and_refuses_them(store, install_stage, technician,
                                                                           technician2, store_manager):
    technician2.is_active = False
    technician2.save()
    store.travel_buffer_minutes = 30
    store.save()
    day = working_day(store)
    book(install_stage(), at(store, day, 10))
    hours = {s.start.astimezone(store.tzinfo).hour for s in services.appointment_slots(stage=install_stage())
             if s.start.astimezone(store.tzinfo).date() == day}
    assert hours == {12, 13, 14, 15, 16, 17}
    with pytest.raises(Conflict) as refused:
        book(install_stage(), at(store, day, 11))
    assert refused.value.code == "slot_taken"
    store.travel_buffer_minutes = 0  # back to back, as before
    store.save()
    assert book(install_stage(), at(store, day, 11)).technician_id == technician.pk


def test_assigning_and_moving_keep_the_buffer(store, install_stage, technician, technician2, store_manager,
                                              client_for):
    store.travel_buffer_minutes = 45
    store.save()
    day = working_day(store)
    first = book(install_stage(), at(store, day, 10))
    second = book(install_stage(), at(store, day, 12))  # 12:00 is 60 minutes after 11:00: the same technician
    assert first.technician_id == second.technician_id == technician.pk
    third = book(install_stage(), at(store, day, 11))  # within 45 minutes of both: the other technician
    assert third.technician_id == technician2.pk
    response = client_for(store_manager).post(f"/api/v1/appointments/{third.pk}/assign/",
                                              {"technician": technician.pk}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "technician_busy", response.content
    # Moved to 13:00, the first visit would start right after its technician's 12:00-13:00 visit: the other
    # technician, whose 11:00-12:00 visit ends an hour before, takes it.
    moved = services.appointment_reschedule(appointment=first, window_start=at(store, day, 13), actor=store_manager)
    assert moved.technician_id == technician2.pk


# --- the slots' query count ------------------------------------------------------------------------------------


def test_the_slots_cost_the_same_queries_however_many_visits_are_booked(store, install_stage, client_for,
                                                                        django_assert_max_num_queries):
    set_capacity(store, "install", 20)
    store.travel_buffer_minutes = 30
    store.save()
    stage = install_stage()
    api = client_for(stage.order.consumer)
    url = f"/api/v1/orders/{stage.order_id}/slots/?stage={stage.pk}"

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api.get(url).status_code == 200
        return len(captured)

    queries()  # the client's token looked up once: later requests find it in the cache (core.authentication)
    few = queries()
    for offset in range(1, 6):
        for hour in (9, 13):
            book(install_stage(), at(store, working_day(store, offset), hour))
    assert queries() == few
    # The order, its stages, the distribution, the store's technicians, their visits, the capacity for the skill
    # and the visits needing it (the last two only when the skill has a capacity); the token comes from the cache.
    with django_assert_max_num_queries(7):
        assert api.get(url).status_code == 200


# --- where it is set: the admin, and read on the API --------------------------------------------------------


def test_a_merchant_admin_sets_capacity_and_buffer_on_the_store_page(store, merchant_admin):
    page = f"/admin/tenancy/store/{store.pk}/change/"
    client = web(merchant_admin)
    form = client.get(page)
    assert form.status_code == 200 and b"capacities-TOTAL_FORMS" in form.content
    data = store_form(store, **{"travel_buffer_minutes": "30", "capacities-TOTAL_FORMS": "1",
                                "capacities-0-skill": "install", "capacities-0-visits_per_day": "6"})
    response = client.post(page, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Store.objects.get(pk=store.pk).travel_buffer_minutes == 30
    assert StoreCapacity.objects.get(store=store, skill="install").visits_per_day == 6


def test_a_store_manager_sees_but_does_not_change_the_capacity(store, store_manager):
    set_capacity(store, "install", 6)
    client = web(store_manager)
    assert client.get(f"/admin/tenancy/store/{store.pk}/change/").status_code == 200
    assert client.post(f"/admin/tenancy/store/{store.pk}/change/", {"travel_buffer_minutes": "5"}).status_code == 403


def test_the_stores_api_reads_capacity_and_buffer(store, manager_client):
    set_capacity(store, "install", 6)
    set_capacity(store, "measure", 4)
    body = manager_client.get(f"/api/v1/stores/{store.pk}/").json()
    assert body["travel_buffer_minutes"] == 0
    assert body["daily_capacity"] == {"install": 6, "measure": 4}
