"""The job list marks what changed since the technician last read that day's list (`changed`): a visit given to
them, moved, cancelled; a visit cancelled while theirs stays listed (a marker, without the consumer's contact)."""

from datetime import date

import pytest

from fieldwork.models import JobChange, JobListRead
from tests.factories.fieldwork import book_visit
from workflows import services
from workflows.models import Appointment

pytestmark = pytest.mark.django_db
URL = "/api/v1/technician/jobs/"


def day_of(appointment: Appointment) -> str:
    return appointment.window_start.astimezone(appointment.store.tzinfo).date().isoformat()


def rows(client, appointment) -> dict[int, dict]:
    response = client.get(URL, {"date": day_of(appointment)})
    assert response.status_code == 200
    return {r["id"]: r for r in response.json()["results"]}


@pytest.fixture
def booked(field_order, consumer, technician, technician2):
    """The measuring visit as the consumer books it: the store's first free technician (`technician`) gets it."""
    appointment = book_visit(order=field_order, code="measuring", consumer=consumer)
    assert appointment.technician_id == technician.pk
    return appointment


def _later_slot(appointment: Appointment):
    return next(s.start for s in services.appointment_slots(stage=appointment.stage)
                if s.start > appointment.window_end)


def test_a_new_job_is_marked_until_the_list_is_read(tech, booked):
    first = rows(tech, booked)[booked.pk]
    assert first["changed"]["kind"] == "assigned"
    assert first["changed"]["at"].endswith("+08:00")  # store time, like the window

    assert rows(tech, booked)[booked.pk]["changed"] is None  # read: no longer marked
    assert JobListRead.objects.filter(day=day_of(booked)).count() == 1


def test_a_moved_job_is_marked_moved_and_its_old_window_is_gone(tech, booked, store_manager):
    rows(tech, booked)  # read
    moved = services.appointment_reschedule(appointment=booked, window_start=_later_slot(booked),
                                            actor=store_manager)

    listed = rows(tech, moved)
    assert moved.technician_id == booked.technician_id
    assert listed[moved.pk]["changed"]["kind"] == "moved"
    # the same visit at another time, not a cancelled one: its old window is listed nowhere
    assert booked.pk not in listed and booked.pk not in rows(tech, booked)
    assert rows(tech, moved)[moved.pk]["changed"] is None


def test_a_job_given_by_staff_is_marked_for_the_new_technician_and_leaves_the_old_list(
        client_for, tech, booked, technician, technician2, store_manager):
    rows(tech, booked)
    tech2 = client_for(technician2)
    rows(tech2, booked)  # technician2 has read their (empty) list

    services.appointment_assign(appointment=booked, technician=technician2, actor=store_manager)

    assert rows(tech2, booked)[booked.pk]["changed"]["kind"] == "assigned"
    assert booked.pk not in rows(tech, booked)
    assert tech.get(f"{URL}{booked.pk}/").status_code == 404


def test_a_cancelled_order_leaves_its_visit_listed_as_cancelled_without_the_consumers_contact(
        tech, booked, consumer):
    rows(tech, booked)
    services.order_cancel(order=booked.order, actor=consumer, reason="moving house")

    row = rows(tech, booked)[booked.pk]
    assert row["state"] == "cancelled"
    assert row["changed"]["kind"] == "cancelled"
    assert row["consumer"] is None and row["address"] is None and row["latitude"] is None
    assert row["order"]["number"] == booked.order.number  # which visit it was
    again = rows(tech, booked)[booked.pk]
    assert again["state"] == "cancelled" and again["changed"] is None  # still listed, no longer marked


def test_a_job_moved_to_a_colleague_is_cancelled_on_the_old_technicians_list(
        client_for, tech, booked, technician, technician2, store_manager, consumer, store, field_template):
    from tests.factories.fieldwork import make_field_order

    later = _later_slot(booked)
    other = make_field_order(store=store, consumer=consumer, template=field_template)
    busy = services.appointment_book(stage=other.stages.get(definition__code="measuring"), window_start=later,
                                     actor=consumer)
    assert busy.technician_id == technician.pk  # technician is taken at `later`: the move goes to technician2
    rows(tech, booked)

    moved = services.appointment_reschedule(appointment=booked, window_start=later, actor=store_manager)

    assert moved.technician_id == technician2.pk
    mine = rows(tech, booked)
    assert mine[booked.pk]["state"] == "cancelled" and mine[booked.pk]["changed"]["kind"] == "cancelled"
    assert moved.pk not in mine
    assert rows(client_for(technician2), moved)[moved.pk]["changed"]["kind"] == "assigned"


def test_other_technicians_and_tenants_see_none_of_it(client_for, booked, technician2, other_technician, consumer):
    services.order_cancel(order=booked.order, actor=consumer, reason="moving house")
    for who in (technician2, other_technician):
        client = client_for(who)
        assert booked.pk not in rows(client, booked)
        assert client.get(f"{URL}{booked.pk}/").status_code == 404
    # Nor are their reads recorded against the technician whose list it is.
    assert set(JobListRead.objects.values_list("technician_id", flat=True)) == {technician2.pk,
                                                                                 other_technician.pk}


def test_reading_one_day_leaves_another_days_changes_marked(tech, booked):
    tech.get(URL, {"date": "2030-01-01"})  # another day read
    assert rows(tech, booked)[booked.pk]["changed"]["kind"] == "assigned"
    assert set(JobListRead.objects.values_list("day", flat=True)) == {
        date(2030, 1, 1), booked.window_start.astimezone(booked.store.tzinfo).date()}


def test_events_about_no_visit_record_no_change(field_order, consumer, store_manager):
    before = JobChange.objects.count()
    services.order_cancel(order=field_order, actor=store_manager, reason="no visit booked yet")
    assert JobChange.objects.count() == before
