"""POST .../complete/ and the engine guards fieldwork registers (visit, photos, checklist)."""

import pytest

from tests.fieldwork.helpers import check_in_body, check_out_body, job_url, photo_upload
from workflows import services
from workflows.models import Appointment, OrderEvent, StageInstance
from workflows.services import appointment_mark_no_show

pytestmark = pytest.mark.django_db
CHECKLIST = ["Walls measured", "Floor level checked", "Power sockets marked"]


def test_completion_without_check_in_evidence_or_checklist_lists_every_reason(tech, visit):
    response = tech.post(job_url(visit, "complete"), {})
    # Not checked in: the stage is still "scheduled", so the engine refuses the transition itself.
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"

    tech.post(job_url(visit, "check-in"), check_in_body(visit.order))
    response = tech.post(job_url(visit, "complete"), {})
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "guard_failed"
    assert "2 more photos are needed." in body["reasons"]
    assert any(r.startswith("Checklist items not ticked yet: Walls measured") for r in body["reasons"])
    visit.stage.refresh_from_db()
    assert visit.stage.state == StageInstance.State.IN_PROGRESS


def test_reasons_shrink_as_the_work_is_recorded(tech, visit):
    tech.post(job_url(visit, "check-in"), check_in_body(visit.order))
    photo_upload(tech, visit)
    reasons = tech.post(job_url(visit, "complete"), {}).json()["reasons"]
    assert "1 more photo is needed." in reasons
    photo_upload(tech, visit)
    tech.post(job_url(visit, "checklist"), {"client_event_id": "8b0c3a52-8a4b-4b7f-9d43-6c0e7a5f1a01",
                                            "checklist": {"Walls measured": True}})
    reasons = tech.post(job_url(visit, "complete"), {}).json()["reasons"]
    assert reasons == ["Checklist items not ticked yet: Floor level checked, Power sockets marked."]


def test_complete_after_check_out_moves_the_order_on(tech, visit, technician):
    tech.post(job_url(visit, "check-in"), check_in_body(visit.order))
    photo_upload(tech, visit)
    photo_upload(tech, visit, fmt="JPEG")
    out = tech.post(job_url(visit, "check-out"), check_out_body(visit.order, checklist=CHECKLIST))
    assert out.status_code == 201, out.content
    assert out.json()["checklist"] == dict.fromkeys(CHECKLIST, True)

    response = tech.post(job_url(visit, "complete"), {})
    assert response.status_code == 200, response.content
    assert response.json()["stage"]["state"] == StageInstance.State.DONE
    assert response.json()["order_state"] == "design:ready"
    event = OrderEvent.objects.get(order=visit.order, kind="stage.complete", stage=visit.stage)
    assert event.actor == technician and event.payload["appointment"] == visit.pk
    assert OrderEvent.objects.get(order=visit.order, kind="job.checked_out").payload["checklist"] == \
        dict.fromkeys(CHECKLIST, True)


def test_a_replayed_completion_answers_the_first_result(tech, visit):
    tech.post(job_url(visit, "check-in"), check_in_body(visit.order))
    photo_upload(tech, visit)
    photo_upload(tech, visit)
    tech.post(job_url(visit, "check-out"), check_out_body(visit.order, checklist=CHECKLIST))
    body = {"client_event_id": "0d7f4b1e-62b7-4a3c-9a59-1f3c2c6b7e10"}
    first = tech.post(job_url(visit, "complete"), body)
    again = tech.post(job_url(visit, "complete"), body)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert OrderEvent.objects.filter(order=visit.order, kind="stage.complete", stage=visit.stage).count() == 1


def test_checklist_as_dict_unticks_and_list_is_a_full_answer(tech, visit):
    tech.post(job_url(visit, "check-in"), check_in_body(visit.order))
    url = job_url(visit, "checklist")
    r1 = tech.post(url, {"client_event_id": "11111111-1111-4111-8111-111111111111", "checklist": CHECKLIST})
    assert r1.json()["checklist"] == dict.fromkeys(CHECKLIST, True)
    r2 = tech.post(url, {"client_event_id": "22222222-2222-4222-8222-222222222222",
                         "checklist": {"Walls measured": False}})
    assert r2.json()["checklist"] == {**dict.fromkeys(CHECKLIST, True), "Walls measured": False}


@pytest.mark.parametrize("checklist", [{"Roof painted": True}, ["Roof painted"], {"Walls measured": "yes"}, 42])
def test_bad_checklist_is_a_400(tech, visit, checklist):
    tech.post(job_url(visit, "check-in"), check_in_body(visit.order))
    response = tech.post(job_url(visit, "check-out"), check_out_body(visit.order, checklist=checklist))
    assert response.status_code == 400
    assert "checklist" in response.json()["errors"]
    assert Appointment.objects.get(pk=visit.pk).state == Appointment.State.CHECKED_IN


def test_check_out_before_check_in_is_a_conflict(tech, visit):
    assert tech.post(job_url(visit, "check-out"), check_out_body(visit.order)).status_code == 409


def test_staff_completion_is_held_by_the_same_guards(visit, store_manager, tech):
    tech.post(job_url(visit, "check-in"), check_in_body(visit.order))
    from core.errors import GuardFailed

    with pytest.raises(GuardFailed) as exc:
        services.stage_complete(stage=visit.stage, actor=store_manager)
    assert "2 more photos are needed." in exc.value.extra["reasons"]


def test_no_show_is_recorded_once(visit):
    appointment_mark_no_show(appointment=visit)
    appointment_mark_no_show(appointment=visit)
    visit.refresh_from_db()
    assert visit.state == Appointment.State.NO_SHOW
    assert OrderEvent.objects.filter(order=visit.order, kind="job.no_show").count() == 1


def test_no_show_leaves_a_visit_in_progress_alone(tech, visit):
    tech.post(job_url(visit, "check-in"), check_in_body(visit.order))
    appointment_mark_no_show(appointment=visit)
    assert Appointment.objects.get(pk=visit.pk).state == Appointment.State.CHECKED_IN
    assert not OrderEvent.objects.filter(kind="job.no_show").exists()


def test_stored_answers_are_kept_at_least_a_week(tech, visit):
    from datetime import timedelta

    from django.utils import timezone

    from fieldwork.models import ClientEvent
    from fieldwork.tasks import client_events_purge

    tech.post(job_url(visit, "check-in"), check_in_body(visit.order))
    stored = ClientEvent.objects.get()
    ClientEvent.objects.filter(pk=stored.pk).update(created_at=timezone.now() - timedelta(days=8))
    assert client_events_purge() == 0
    ClientEvent.objects.filter(pk=stored.pk).update(created_at=timezone.now() - timedelta(days=31))
    assert client_events_purge() == 1
