"""Bookable windows, booking, rescheduling and assignment; a technician is never double-booked."""

import threading
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from core.errors import Conflict, DomainError
from tests.factories.tenancy import ConsumerFactory, TechnicianFactory
from tests.factories.workflows import make_order, make_template, stage_of
from workflows import services
from workflows.models import Appointment

VISIT_FLOW = {
    "name": "One visit",
    "stages": [
        {"code": "visit", "name": "Visit", "requires_appointment": True, "appointment_minutes": 90},
        {"code": "review", "name": "Review", "requires_approval": True, "max_rework_rounds": 0},
    ],
}


@pytest.fixture
def order(store, consumer, technician):
    return make_order(store=store, consumer=consumer, definition=VISIT_FLOW)


def next_day_at(store, hour, minute=0):
    """That time on the store's next working day after today (the factory's stores close on Sundays: "tomorrow"
    failed every Saturday)."""
    day = timezone.now().astimezone(store.tzinfo).date() + timedelta(days=1)
    while day.weekday() not in store.working_days:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=store.tzinfo)


def test_slots_follow_working_hours_and_appointment_length(order, store):
    slots = services.appointment_slots(stage=stage_of(order, "visit"))
    next_day = [s for s in slots if s.start.astimezone(store.tzinfo).date() == next_day_at(store, 9).date()]
    assert [s.start.astimezone(store.tzinfo).strftime("%H:%M") for s in next_day] == [
        "09:00",
        "10:30",
        "12:00",
        "13:30",
        "15:00",
        "16:30",
    ]
    assert all(s.end - s.start == timedelta(minutes=90) for s in slots)
    assert all(s.start > timezone.now() for s in slots)


def test_store_override_changes_the_appointment_length(order, store):
    dist = order.template_version.distributions.get(store=store)
    services.store_bounds_set(template=dist.template, appointment_open=True, appointment_max_minutes=240)
    services.store_overrides_set(distribution=dist, appointment_minutes={"visit": 180})
    slots = services.appointment_slots(stage=stage_of(order, "visit"))
    assert {s.end - s.start for s in slots} == {timedelta(minutes=180)}


def test_closed_days_have_no_slots(order, store):
    store.working_days = [0, 1, 2, 3, 4]  # Monday to Friday
    store.save()
    slots = services.appointment_slots(stage=stage_of(order, "visit"))
    assert slots and all(s.start.astimezone(store.tzinfo).weekday() < 5 for s in slots)


def test_booking_takes_the_window_from_the_slots_and_assigns_the_free_technician(order, store, consumer, technician):
    start = next_day_at(store, 10, 30)
    appt = services.appointment_book(stage=stage_of(order, "visit"), window_start=start, actor=consumer)
    assert appt.technician == technician and appt.window_end == start + timedelta(minutes=90)
    order.refresh_from_db()
    assert order.state == "visit:scheduled"
    assert order.events.filter(kind="stage.book").count() == 1
    # the only technician is now busy then: the window is gone from the slots
    starts = {s.start for s in services.appointment_slots(stage=stage_of(order, "visit"))}
    assert start not in starts


def test_a_window_outside_the_grid_or_in_the_past_is_refused(order, store, consumer):
    for bad in (next_day_at(store, 10, 15), next_day_at(store, 17), timezone.now() - timedelta(hours=1)):
        with pytest.raises(DomainError) as exc:
            services.appointment_book(stage=stage_of(order, "visit"), window_start=bad, actor=consumer)
        assert exc.value.code == "invalid_window"
    assert not Appointment.objects.exists()


def test_a_full_window_is_a_conflict_and_nothing_is_booked(order, store, consumer, technician):
    other = make_order(store=store, consumer=ConsumerFactory(), template=order.template_version.template)
    start = next_day_at(store, 9)
    services.appointment_book(stage=stage_of(other, "visit"), window_start=start, actor=other.consumer)
    with pytest.raises(Conflict) as exc:
        services.appointment_book(stage=stage_of(order, "visit"), window_start=start, actor=consumer)
    assert exc.value.code == "slot_taken"
    order.refresh_from_db()
    assert order.state == "visit:ready"


def test_reschedule_moves_the_visit_and_counts_it(order, store, consumer):
    appt = services.appointment_book(stage=stage_of(order, "visit"), window_start=next_day_at(store, 9), actor=consumer)
    moved = services.appointment_reschedule(appointment=appt, window_start=next_day_at(store, 13, 30), actor=consumer)
    appt.refresh_from_db()
    assert appt.state == "cancelled" and moved.state == "booked" and moved.reschedule_count == 1
    assert order.events.filter(kind="stage.reschedule").count() == 1


def test_a_moved_visit_keeps_its_technician_when_they_are_free(order, store, consumer, store_manager, technician2):
    appt = services.appointment_book(stage=stage_of(order, "visit"), window_start=next_day_at(store, 9), actor=consumer)
    # technician2 is not the one a fresh booking would pick (technician comes first)
    appt = services.appointment_assign(appointment=appt, technician=technician2, actor=store_manager)
    moved = services.appointment_reschedule(appointment=appt, window_start=next_day_at(store, 13, 30), actor=consumer)
    assert moved.technician == technician2


@pytest.mark.parametrize("change", ["left_the_store", "deactivated"])
def test_a_moved_visit_never_keeps_a_technician_who_cannot_take_it(order, store, store2, consumer, store_manager,
                                                                   technician, technician2, change):
    appt = services.appointment_book(stage=stage_of(order, "visit"), window_start=next_day_at(store, 9), actor=consumer)
    assert appt.technician == technician
    busy = None
    if change == "left_the_store":
        # now at store2 only, with a visit there at the very time the consumer moves to
        technician.stores.set([store2])
        elsewhere = make_order(store=store2, consumer=ConsumerFactory(), definition=VISIT_FLOW)
        busy = Appointment.objects.create(order=elsewhere, stage=stage_of(elsewhere, "visit"), store=store2,
                                          technician=technician, window_start=next_day_at(store, 13, 30),
                                          window_end=next_day_at(store, 15))
    else:
        technician.is_active = False
        technician.save()
    moved = services.appointment_reschedule(appointment=appt, window_start=next_day_at(store, 13, 30),
                                            actor=store_manager)
    assert moved.technician == technician2, f"kept {technician} (busy with {busy})"
    assert order.events.get(kind="stage.reschedule").payload["technician"] == technician2.pk


def test_assign_refuses_a_busy_technician(order, store, consumer, store_manager, technician):
    tech2 = TechnicianFactory(stores=[store])
    other = make_order(store=store, consumer=ConsumerFactory(), template=order.template_version.template)
    start = next_day_at(store, 9)
    first = services.appointment_book(stage=stage_of(order, "visit"), window_start=start, actor=consumer)
    second = services.appointment_book(stage=stage_of(other, "visit"), window_start=start, actor=other.consumer)
    assert {first.technician_id, second.technician_id} == {technician.pk, tech2.pk}
    with pytest.raises(Conflict):
        services.appointment_assign(appointment=first, technician=second.technician, actor=store_manager)


def test_assign_api_is_for_staff_of_the_store(
    client_for, order, store, consumer, store_manager, other_store_manager, technician
):
    appt = services.appointment_book(stage=stage_of(order, "visit"), window_start=next_day_at(store, 9), actor=consumer)
    url = f"/api/v1/appointments/{appt.pk}/assign/"
    assert client_for(consumer).post(url, {"technician": technician.pk}).status_code == 403
    assert client_for(other_store_manager).post(url, {"technician": technician.pk}).status_code == 404
    assert client_for(store_manager).post(url, {"technician": technician.pk}).status_code == 200


def test_an_inactive_technician_is_never_booked_nor_assigned(client_for, order, store, consumer, store_manager,
                                                            technician):
    technician.is_active = False
    technician.save()
    active = TechnicianFactory(stores=[store])
    appt = services.appointment_book(stage=stage_of(order, "visit"), window_start=next_day_at(store, 9), actor=consumer)
    assert appt.technician == active
    response = client_for(store_manager).post(f"/api/v1/appointments/{appt.pk}/assign/",
                                              {"technician": technician.pk}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"]["technician"] == ["This technician's account is deactivated."]
    appt.refresh_from_db()
    assert appt.technician == active and not order.events.filter(kind="appointment.assigned").exists()
    # with no active technician left, the store has no windows and a booking finds nobody
    active.is_active = False
    active.save()
    other = make_order(store=store, consumer=consumer, template=order.template_version.template)
    assert services.appointment_slots(stage=stage_of(other, "visit")) == []
    with pytest.raises(Conflict):
        services.appointment_book(stage=stage_of(other, "visit"), window_start=next_day_at(store, 12),
                                  actor=consumer)


def test_booking_through_the_api(client_for, order, store, consumer, consumer2):
    stage = stage_of(order, "visit")
    slots = client_for(consumer).get(f"/api/v1/orders/{order.pk}/slots/?stage={stage.pk}")
    assert slots.status_code == 200 and slots.json()
    start = slots.json()[0]["start"]
    assert (
        client_for(consumer2)
        .post(f"/api/v1/orders/{order.pk}/appointments/", {"stage": stage.pk, "window_start": start})
        .status_code
        == 404
    )
    booked = client_for(consumer).post(
        f"/api/v1/orders/{order.pk}/appointments/", {"stage": stage.pk, "window_start": start}
    )
    assert booked.status_code == 201, booked.json()
    again = client_for(consumer).post(
        f"/api/v1/orders/{order.pk}/appointments/", {"stage": stage.pk, "window_start": start}
    )
    assert again.status_code == 409


def test_a_booking_time_without_its_offset_is_refused_not_read_in_the_servers_zone(client_for, order, store,
                                                                                    consumer):
    """A naive 09:00 was read in the server's TIME_ZONE (Asia/Shanghai): for a store elsewhere another instant, or
    a 400 that did not say why. The contract's times carry their offset."""
    store.timezone = "Europe/Berlin"
    store.save()
    stage = stage_of(order, "visit")
    start = client_for(consumer).get(f"/api/v1/orders/{order.pk}/slots/?stage={stage.pk}").json()[0]["start"]
    naive = datetime.fromisoformat(start).astimezone(store.tzinfo).replace(tzinfo=None).isoformat()
    url = f"/api/v1/orders/{order.pk}/appointments/"
    refused = client_for(consumer).post(url, {"stage": stage.pk, "window_start": naive}, format="json")
    assert refused.status_code == 400
    assert "UTC offset" in refused.json()["errors"]["window_start"][0]
    assert not Appointment.objects.filter(stage=stage).exists()
    booked = client_for(consumer).post(url, {"stage": stage.pk, "window_start": start}, format="json")
    assert booked.status_code == 201, booked.json()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_bookings_of_a_one_technician_window_book_once(client_for, store, technician):
    template = make_template(merchant=store.merchant, stores=[store], definition=VISIT_FLOW)
    orders = [make_order(store=store, consumer=ConsumerFactory(), template=template) for _ in range(32)]
    clients = [client_for(o.consumer) for o in orders]
    start = next_day_at(store, 12).isoformat()
    barrier = threading.Barrier(len(orders))
    statuses = []

    def book(order, api):
        try:
            barrier.wait()
            response = api.post(
                f"/api/v1/orders/{order.pk}/appointments/",
                {"stage": stage_of(order, "visit").pk, "window_start": start},
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=book, args=(o, c)) for o, c in zip(orders, clients, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(201) == 1
    assert set(statuses) <= {201, 409}
    assert Appointment.objects.filter(technician=technician, state="booked").count() == 1


# --- how far ahead: the booking horizon, the stage's e-voucher, the reschedule limit -----------------------

VOUCHER_VISIT_FLOW = {
    "name": "One visit with a voucher",
    "stages": [
        {"code": "visit", "name": "Visit", "requires_appointment": True, "appointment_minutes": 90,
         "requires_voucher": True, "voucher_valid_days": 3},
        {"code": "review", "name": "Review", "requires_approval": True, "max_rework_rounds": 0},
    ],
}


def working_day_at(store, days_ahead, hour=9):
    """`hour` o'clock on the first working day at least `days_ahead` days after today (store time)."""
    day = timezone.now().astimezone(store.tzinfo).date() + timedelta(days=days_ahead)
    while day.weekday() not in store.working_days:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, tzinfo=store.tzinfo)


def test_the_slots_and_booking_share_one_horizon(order, store, consumer, settings):
    settings.APPOINTMENT_BOOKING_HORIZON_DAYS = 4
    slots = services.appointment_slots(stage=stage_of(order, "visit"))
    horizon_end = services.booking_horizon_end(store)
    today = timezone.now().astimezone(store.tzinfo).date()
    assert slots and max(s.end for s in slots) <= horizon_end
    assert max(s.start.astimezone(store.tzinfo).date() for s in slots) <= today + timedelta(days=4)
    # the last window listed can be booked; the first one past the horizon cannot
    with pytest.raises(DomainError) as exc:
        services.appointment_book(stage=stage_of(order, "visit"), window_start=working_day_at(store, 5),
                                  actor=consumer)
    assert exc.value.code == "invalid_window" and "4 days ahead" in exc.value.extra["errors"]["window_start"][0]
    booked = services.appointment_book(stage=stage_of(order, "visit"), window_start=slots[-1].start, actor=consumer)
    assert booked.window_end == slots[-1].end


def test_booking_beyond_the_horizon_is_a_400_on_window_start(client_for, order, store, consumer):
    stage = stage_of(order, "visit")
    for far in (working_day_at(store, 15), datetime(2030, 6, 3, 9, tzinfo=store.tzinfo)):  # 2030-06-03: a Monday
        response = client_for(consumer).post(
            f"/api/v1/orders/{order.pk}/appointments/", {"stage": stage.pk, "window_start": far.isoformat()},
            format="json",
        )
        assert response.status_code == 400, response.json()
        body = response.json()
        assert body["code"] == "invalid_window" and "14 days ahead" in body["errors"]["window_start"][0]
    assert not Appointment.objects.exists()
    order.refresh_from_db()
    assert order.state == "visit:ready"


def test_rescheduling_beyond_the_horizon_is_refused(order, store, consumer):
    appt = services.appointment_book(stage=stage_of(order, "visit"), window_start=next_day_at(store, 9), actor=consumer)
    with pytest.raises(DomainError) as exc:
        services.appointment_reschedule(appointment=appt, window_start=working_day_at(store, 20), actor=consumer)
    assert exc.value.code == "invalid_window"
    appt.refresh_from_db()
    assert appt.state == "booked"


def test_a_window_at_the_end_of_the_calendar_is_a_400_not_a_500(client_for, order, store, consumer):
    """Adding the visit's length to the last hour of 9999 overflowed Python's datetime (a 500)."""
    when = "9999-12-31T23:00:00+08:00"
    api = client_for(consumer)
    stage = stage_of(order, "visit")
    booked = api.post(f"/api/v1/orders/{order.pk}/appointments/", {"stage": stage.pk, "window_start": when},
                      format="json")
    assert booked.status_code == 400, booked.content
    assert booked.json()["code"] == "invalid_window" and "14 days ahead" in booked.json()["errors"]["window_start"][0]
    appt = services.appointment_book(stage=stage, window_start=next_day_at(store, 9), actor=consumer)
    moved = api.post(f"/api/v1/appointments/{appt.pk}/reschedule/", {"window_start": when}, format="json")
    assert moved.status_code == 400, moved.content
    assert moved.json()["code"] == "invalid_window" and moved.json()["errors"]["window_start"]
    appt.refresh_from_db()
    assert appt.state == "booked" and Appointment.objects.count() == 1


@pytest.fixture
def voucher_order(store, consumer, technician):
    order = make_order(store=store, consumer=consumer, definition=VOUCHER_VISIT_FLOW)
    assert order.state == "visit:ready"
    return order


def test_a_visit_after_the_stage_voucher_expires_is_refused_and_not_listed(client_for, voucher_order, store, consumer):
    from vouchers.models import Voucher

    stage = stage_of(voucher_order, "visit")
    voucher = Voucher.objects.get(stage=stage, state="issued")
    slots = services.appointment_slots(stage=stage)
    assert slots and all(s.end <= voucher.valid_until for s in slots)
    later = working_day_at(store, 5)  # within the 14-day horizon, after the 3-day voucher
    assert later > voucher.valid_until
    response = client_for(consumer).post(
        f"/api/v1/orders/{voucher_order.pk}/appointments/", {"stage": stage.pk, "window_start": later.isoformat()},
        format="json",
    )
    assert response.status_code == 400, response.json()
    assert "e-voucher for this stage expires" in response.json()["errors"]["window_start"][0]
    assert not Appointment.objects.exists()
    # a listed window is fine; moving it past the expiry is not
    appt = services.appointment_book(stage=stage, window_start=slots[0].start, actor=consumer)
    with pytest.raises(DomainError) as exc:
        services.appointment_reschedule(appointment=appt, window_start=later, actor=consumer)
    assert "expires" in exc.value.extra["errors"]["window_start"][0]


def test_a_missed_visit_is_rebooked_only_while_the_stage_voucher_is_valid(voucher_order, store, consumer):
    from workflows.services import appointment_mark_no_show

    stage = stage_of(voucher_order, "visit")
    slots = services.appointment_slots(stage=stage)
    missed = appointment_mark_no_show(appointment=services.appointment_book(stage=stage, window_start=slots[0].start,
                                                                            actor=consumer))
    with pytest.raises(DomainError) as exc:
        services.appointment_reschedule(appointment=missed, window_start=working_day_at(store, 5), actor=consumer)
    assert "expires" in exc.value.extra["errors"]["window_start"][0]
    rebooked = services.appointment_reschedule(appointment=missed, window_start=slots[1].start, actor=consumer)
    assert rebooked.state == "booked" and rebooked.technician_id is not None


def test_an_expired_voucher_leaves_no_slots_and_refuses_booking(voucher_order, store, consumer):
    from vouchers.models import Voucher

    stage = stage_of(voucher_order, "visit")
    Voucher.objects.filter(stage=stage).update(valid_until=timezone.now() - timedelta(minutes=1))
    assert services.appointment_slots(stage=stage) == []
    with pytest.raises(DomainError) as exc:
        services.appointment_book(stage=stage, window_start=next_day_at(store, 9), actor=consumer)
    assert "expired" in exc.value.extra["errors"]["window_start"][0]


def test_a_redeemed_voucher_no_longer_limits_visits(voucher_order, store):
    from vouchers.models import Voucher
    from vouchers.plugin import voucher_booking_deadline

    stage = stage_of(voucher_order, "visit")
    assert voucher_booking_deadline(stage) is not None
    Voucher.objects.filter(stage=stage).update(state="redeemed", redeemed_at=timezone.now())
    assert voucher_booking_deadline(stage) is None
    assert voucher_booking_deadline(stage_of(voucher_order, "review")) is None  # no voucher needed


def test_a_consumer_may_move_a_visit_only_so_many_times(client_for, order, store, consumer, store_manager, settings):
    settings.APPOINTMENT_MAX_RESCHEDULES = 3
    appt = services.appointment_book(stage=stage_of(order, "visit"), window_start=next_day_at(store, 9), actor=consumer)
    hours = [(10, 30), (12, 0), (13, 30)]
    for hour, minute in hours:
        response = client_for(consumer).post(
            f"/api/v1/appointments/{appt.pk}/reschedule/",
            {"window_start": next_day_at(store, hour, minute).isoformat()}, format="json",
        )
        assert response.status_code == 201, response.json()
        appt = Appointment.objects.get(pk=response.json()["id"])
    assert appt.reschedule_count == 3
    refused = client_for(consumer).post(
        f"/api/v1/appointments/{appt.pk}/reschedule/", {"window_start": next_day_at(store, 15).isoformat()},
        format="json",
    )
    assert refused.status_code == 409, refused.json()
    assert refused.json()["code"] == "reschedule_limit" and "contact the store" in refused.json()["detail"]
    appt.refresh_from_db()
    assert appt.state == "booked" and order.events.filter(kind="stage.reschedule").count() == 3
    # the store may still move it
    moved = client_for(store_manager).post(
        f"/api/v1/appointments/{appt.pk}/reschedule/", {"window_start": next_day_at(store, 15).isoformat()},
        format="json",
    )
    assert moved.status_code == 201, moved.json()
    assert moved.json()["reschedule_count"] == 4
