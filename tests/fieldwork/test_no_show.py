"""After a no-show: the missed visit is rebooked through the visit's reschedule, and the stage goes on."""

import pytest

from notifications.models import Notification
from tests.factories.fieldwork import starting_soon
from tests.fieldwork.helpers import check_in_body, check_out_body, job_url, photo_upload
from workflows import services
from workflows.models import Appointment, OrderEvent
from workflows.services import appointment_mark_no_show

pytestmark = pytest.mark.django_db
CHECKLIST = ["Walls measured", "Floor level checked", "Power sockets marked"]


def rebook(client, visit, slot_index=1):
    slot = services.appointment_slots(stage=visit.stage)[slot_index]
    return client.post(f"/api/v1/appointments/{visit.pk}/reschedule/", {"window_start": slot.start.isoformat()},
                       format="json")


@pytest.mark.usefixtures("english")
def test_the_store_rebooks_a_missed_visit_and_the_stage_goes_on(client_for, visit, store_manager, consumer,
                                                                technician):
    appointment_mark_no_show(appointment=visit)
    missed = Notification.objects.filter(recipient=consumer, kind="visit.missed").first()
    assert "Pick a new time on your order's page" in missed.body
    detail = client_for(consumer).get(f"/api/v1/orders/{visit.order_id}/").json()
    assert detail["next_step"]["action"] == "reschedule" and "pick a new time" in detail["next_step"]["text"]

    response = rebook(client_for(store_manager), visit)

    assert response.status_code == 201, response.content
    new = Appointment.objects.get(pk=response.json()["id"])
    assert new.state == Appointment.State.BOOKED and new.technician_id is not None and new.stage == visit.stage
    visit.refresh_from_db()
    assert visit.state == Appointment.State.NO_SHOW  # the missed visit stays on record, with its event
    assert OrderEvent.objects.filter(order=visit.order, kind="job.no_show", payload__appointment=visit.pk).exists()
    event = OrderEvent.objects.get(order=visit.order, kind="stage.reschedule")
    assert event.payload["missed"] is True and event.payload["appointment"] == visit.pk
    assert Notification.objects.filter(event=event, recipient=consumer, kind="appointment.moved").exists()
    detail = client_for(consumer).get(f"/api/v1/orders/{visit.order_id}/").json()
    assert detail["state"] == "measuring:scheduled" and detail["next_step"]["action"] == "visit"

    # The new visit is the stage's live one: checking in to it starts the stage, and it completes.
    tech = client_for(new.technician)
    new = starting_soon(new)  # its day comes
    assert tech.post(job_url(new, "check-in"), check_in_body(new.order)).status_code == 201
    photo_upload(tech, new)
    photo_upload(tech, new)
    assert tech.post(job_url(new, "check-out"), check_out_body(new.order, checklist=CHECKLIST),
                     format="json").status_code == 201
    completed = tech.post(job_url(new, "complete"), {}, format="json")
    assert completed.status_code == 200, completed.json()


def test_a_consumer_at_the_move_limit_may_still_rebook_a_missed_visit(client_for, visit, consumer, settings):
    settings.APPOINTMENT_MAX_RESCHEDULES = 0  # the consumer may not move this visit themselves
    appointment_mark_no_show(appointment=visit)
    response = rebook(client_for(consumer), visit)
    assert response.status_code == 201, response.content
    assert response.json()["reschedule_count"] == 0  # the miss was not the consumer's move


@pytest.mark.usefixtures("english")
def test_a_missed_visit_is_rebooked_once(client_for, visit, consumer):
    appointment_mark_no_show(appointment=visit)
    api = client_for(consumer)
    assert rebook(api, visit).status_code == 201
    again = rebook(api, visit, slot_index=2)
    assert again.status_code == 409 and "rebooked already" in again.json()["detail"]
    assert Appointment.objects.filter(stage=visit.stage, state=Appointment.State.BOOKED).count() == 1


@pytest.mark.usefixtures("english")
def test_the_tracking_page_tells_the_consumer_the_visit_was_missed(client, visit):
    from notifications.services import tracking_url

    appointment_mark_no_show(appointment=visit)
    page = client.get(tracking_url(visit.order)).content.decode()
    assert "the technician did not come" in page and "Pick a new time" in page
