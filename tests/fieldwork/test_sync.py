"""POST /api/v1/technician/sync/: a morning of offline work in one request."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from fieldwork.models import CheckIn, CheckOut, ClientEvent
from fieldwork.selectors import stage_checklist_state
from tests.factories.fieldwork import book_visit, move_window
from tests.fieldwork.helpers import check_in_body, check_out_body, complete_body, job_url, photo_upload
from workflows import services
from workflows.models import Appointment, OrderEvent

pytestmark = pytest.mark.django_db
SYNC = "/api/v1/technician/sync/"
CHECKLIST = ["Walls measured", "Floor level checked", "Power sockets marked"]


def item(kind, job, body=None, **extra):
    return {"type": kind, "job": getattr(job, "pk", job), **(body or {"client_event_id": str(uuid.uuid4())}),
            **extra}


def test_mixed_batch_is_applied_in_order_with_one_result_per_item(tech, visit):
    start = timezone.now() - timedelta(hours=3)
    move_window(visit, start - timedelta(minutes=5))
    check_in = check_in_body(visit.order, recorded_at=start)
    events = [
        item("check_in", visit, check_in),
        item("check_in", visit, check_in),  # the phone queued it twice
        item("checklist", visit, {"client_event_id": str(uuid.uuid4()), "checklist": {"Walls measured": True},
                                  "recorded_at": (start + timedelta(minutes=30)).isoformat()}),
        item("check_out", visit, check_out_body(visit.order, checklist=["Teleporter calibrated"],
                                                recorded_at=start + timedelta(hours=1))),
        item("check_out", visit, check_out_body(visit.order, checklist={"Floor level checked": True},
                                                recorded_at=start + timedelta(hours=1))),
        item("complete", visit, complete_body(recorded_at=start + timedelta(hours=1, minutes=1))),
        item("check_in", 999_999, check_in_body(visit.order)),
        {"type": "teleport", "job": visit.pk, "client_event_id": str(uuid.uuid4())},
    ]

    response = tech.post(SYNC, {"events": events})

    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 201, 201, 400, 201, 409, 404, 400]
    assert [r["replayed"] for r in results[:2]] == [False, True]
    assert results[0]["body"] == results[1]["body"]
    assert results[0]["client_event_id"] == check_in["client_event_id"]
    assert results[3]["body"]["errors"]["checklist"]
    assert results[5]["body"]["code"] == "guard_failed"
    assert "2 more photos are needed." in results[5]["body"]["reasons"]
    assert CheckIn.objects.count() == 1 and CheckOut.objects.count() == 1
    visit.refresh_from_db()
    assert visit.state == Appointment.State.CHECKED_OUT
    assert visit.checked_in_at == start  # the device's time, not the upload's


def test_the_same_batch_sent_twice_records_nothing_twice(tech, visit):
    events = [item("check_in", visit, check_in_body(visit.order)),
              item("check_out", visit, check_out_body(visit.order, checklist=CHECKLIST))]
    first = tech.post(SYNC, {"events": events}).json()["results"]
    second = tech.post(SYNC, {"events": events}).json()["results"]
    assert [r["body"] for r in first] == [r["body"] for r in second]
    assert all(r["replayed"] for r in second)
    assert OrderEvent.objects.filter(order=visit.order, kind__startswith="job.").count() == 2


def _on_site_with_photos(tech, visit) -> None:
    """Checked in, with the two photos the measuring stage needs: a check-out and completion can follow."""
    tech.post(job_url(visit, "check-in"), check_in_body(visit.order))
    photo_upload(tech, visit)
    photo_upload(tech, visit)


def test_a_resent_batch_replays_its_completion(tech, visit):
    _on_site_with_photos(tech, visit)
    events = [item("check_out", visit, check_out_body(visit.order, checklist=CHECKLIST)),
              item("complete", visit, complete_body())]
    first = tech.post(SYNC, {"events": events}, format="json").json()["results"]
    second = tech.post(SYNC, {"events": events}, format="json").json()["results"]
    assert [r["status"] for r in first] == [201, 200]
    assert [(r["status"], r["replayed"]) for r in second] == [(201, True), (200, True)]
    assert second[1]["body"] == first[1]["body"]
    assert OrderEvent.objects.filter(stage=visit.stage, kind="stage.complete").count() == 1


def test_a_completion_without_client_event_id_is_refused_in_a_batch(tech, visit):
    """Without an id, a resent batch ran the completion again (a 409 instead of its first answer)."""
    _on_site_with_photos(tech, visit)
    events = [item("check_out", visit, check_out_body(visit.order, checklist=CHECKLIST)),
              {"type": "complete", "job": visit.pk, "recorded_at": timezone.now().isoformat()}]
    results = tech.post(SYNC, {"events": events}, format="json").json()["results"]
    assert [r["status"] for r in results] == [201, 400]
    assert results[1]["body"]["errors"]["client_event_id"]
    assert not OrderEvent.objects.filter(stage=visit.stage, kind="stage.complete").exists()


def test_checklist_answers_and_completions_in_a_batch_need_their_device_time(tech, visit):
    """Stamped with the server's clock, a tick made offline came after the phone's later untick and won."""
    start = timezone.now() - timedelta(hours=3)
    move_window(visit, start - timedelta(minutes=5))
    events = [
        item("check_in", visit, check_in_body(visit.order, recorded_at=start)),
        item("checklist", visit, {"client_event_id": str(uuid.uuid4()), "checklist": {"Walls measured": True}}),
        item("check_out", visit, check_out_body(visit.order, checklist={"Walls measured": False},
                                                recorded_at=start + timedelta(hours=1))),
        item("complete", visit, {"client_event_id": str(uuid.uuid4())}),
    ]
    results = tech.post(SYNC, {"events": events}, format="json").json()["results"]
    assert [r["status"] for r in results] == [201, 400, 201, 400]
    assert results[1]["body"]["errors"]["recorded_at"] and results[3]["body"]["errors"]["recorded_at"]
    assert stage_checklist_state(stage=visit.stage)["Walls measured"] is False
    # With its device time, the tick counts where the phone made it: before the untick.
    events[1]["recorded_at"] = (start + timedelta(minutes=30)).isoformat()
    assert tech.post(SYNC, {"events": events[1:2]}, format="json").json()["results"][0]["status"] == 201
    assert stage_checklist_state(stage=visit.stage)["Walls measured"] is False


def test_action_on_a_reassigned_job_is_stale_and_kept_in_the_audit_trail(
        tech, client_for, visit, technician, technician2, store_manager):
    services.appointment_assign(appointment=visit, technician=technician2, actor=store_manager)
    body = check_in_body(visit.order)

    result = tech.post(SYNC, {"events": [item("check_in", visit, body)]}).json()["results"][0]

    assert result["status"] == 409
    assert result["body"]["code"] == "stale_job" and result["body"]["reason"] == "reassigned"
    event = OrderEvent.objects.get(order=visit.order, kind="job.stale_action")
    assert event.actor == technician and event.payload["action"] == "check_in"
    assert event.payload["client_event_id"] == body["client_event_id"]
    stored = ClientEvent.objects.get(client_event_id=body["client_event_id"])
    assert stored.outcome == ClientEvent.Outcome.STALE
    assert CheckIn.objects.count() == 0
    # A retry answers the same and adds nothing to the trail.
    again = tech.post(job_url(visit, "check-in"), body)
    assert again.status_code == 409 and again.json() == result["body"]
    assert OrderEvent.objects.filter(kind="job.stale_action").count() == 1
    # The job's new technician can still check in.
    assert client_for(technician2).post(job_url(visit, "check-in"), check_in_body(visit.order)).status_code == 201


def test_action_on_a_cancelled_order_is_stale(tech, visit, store_manager):
    services.order_cancel(order=visit.order, actor=store_manager, reason="Consumer moved house")
    result = tech.post(SYNC, {"events": [item("check_in", visit, check_in_body(visit.order))]}).json()["results"][0]
    assert result["status"] == 409 and result["body"]["reason"] == "cancelled"
    assert OrderEvent.objects.filter(order=visit.order, kind="job.stale_action").exists()


def test_action_on_a_rescheduled_visit_is_stale(tech, visit, consumer):
    slots = services.appointment_slots(stage=visit.stage)
    services.appointment_reschedule(appointment=visit, window_start=slots[3].start, actor=consumer)
    response = tech.post(job_url(visit, "check-in"), check_in_body(visit.order))
    assert response.status_code == 409 and response.json()["code"] == "stale_job"


def test_late_sync_is_accepted_and_flagged(tech, visit, settings):
    recorded = timezone.now() - timedelta(hours=settings.LATE_SYNC_FLAG_HOURS + 5)
    move_window(visit, recorded - timedelta(minutes=10))
    result = tech.post(SYNC, {"events": [item("check_in", visit, check_in_body(visit.order,
                                                                                recorded_at=recorded))]})
    row = result.json()["results"][0]
    assert row["status"] == 201 and row["body"]["late_sync"] is True and row["body"]["on_time"] is True
    assert CheckIn.objects.get().late_sync is True
    assert OrderEvent.objects.get(order=visit.order, kind="job.checked_in").payload["late_sync"] is True


def test_sync_in_time_is_not_flagged(tech, visit):
    recorded = timezone.now() - timedelta(hours=2)
    move_window(visit, recorded)
    row = tech.post(SYNC, {"events": [item("check_in", visit, check_in_body(visit.order, recorded_at=recorded))]}
                    ).json()["results"][0]
    assert row["body"]["late_sync"] is False


@pytest.mark.parametrize("payload", [{}, {"events": []}, {"events": "all"}, {"events": [1, 2]},
                                     {"events": [{}] * 201}])
def test_malformed_batch_is_a_400(tech, payload):
    assert tech.post(SYNC, payload).status_code == 400


def test_item_without_job_or_with_bad_fields_is_reported_not_raised(tech, visit):
    results = tech.post(SYNC, {"events": [
        {"type": "check_in", "client_event_id": str(uuid.uuid4())},
        item("check_in", visit, {"client_event_id": "nope", "recorded_at": "soon", "latitude": 500}),
    ]}).json()["results"]
    assert [r["status"] for r in results] == [400, 400]
    assert "job" in results[0]["body"]["errors"]
    assert {"client_event_id", "recorded_at", "latitude"} <= set(results[1]["body"]["errors"])


def test_another_technicians_job_in_a_batch_is_404(client_for, visit, technician2, other_technician):
    for user in (technician2, other_technician):
        row = client_for(user).post(SYNC, {"events": [item("check_in", visit, check_in_body(visit.order))]}
                                    ).json()["results"][0]
        assert row["status"] == 404


def test_booking_assigned_to_me_then_moved_to_a_colleague(client_for, field_order, consumer, technician2,
                                                          technician, store_manager):
    """Booking picks a free technician of the store; the manager may then give the visit to another."""
    visit = book_visit(order=field_order, code="measuring", consumer=consumer)
    first = visit.technician
    other = technician2 if first == technician else technician
    services.appointment_assign(appointment=visit, technician=other, actor=store_manager)
    response = client_for(first).post(job_url(visit, "check-in"), check_in_body(field_order))
    assert response.status_code == 409 and response.json()["reason"] == "reassigned"


def test_a_too_early_check_in_in_a_batch_is_refused_for_that_item_alone(tech, visit):
    """A batch may hold a check-in to another day's visit made by mistake: that item answers 409 too_early and
    records nothing; the batch's other items still apply."""
    now = timezone.now().replace(microsecond=0)
    move_window(visit, now + timedelta(days=1))  # tomorrow's visit
    early = check_in_body(visit.order, recorded_at=now - timedelta(minutes=1))
    on_the_day = check_in_body(visit.order, recorded_at=now)
    response = tech.post(SYNC, {"events": [item("check_in", visit, early)]})
    assert response.status_code == 200, response.content
    [result] = response.json()["results"]
    assert (result["status"], result["body"]["code"]) == (409, "too_early")
    assert CheckIn.objects.count() == 0 and ClientEvent.objects.count() == 0
    move_window(visit, now - timedelta(minutes=5))  # the visit was in fact today's: the phone sends both again
    results = tech.post(SYNC, {"events": [item("check_in", visit, early), item("check_in", visit, on_the_day)]}
                        ).json()["results"]
    assert [r["status"] for r in results] == [201, 409]  # the first one now checks in; the second is a second one
    assert CheckIn.objects.get().client_event_id == uuid.UUID(early["client_event_id"])
