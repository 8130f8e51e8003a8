"""POST /api/v1/technician/jobs/{id}/check-in/: time, place, flags, replay, refusals."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from core import display
from fieldwork.models import CheckIn, ClientEvent
from tests.factories.fieldwork import make_job, move_window
from tests.fieldwork.helpers import check_in_body, job_url
from workflows.models import Appointment, OrderEvent, StageInstance

pytestmark = pytest.mark.django_db


def kinds(order) -> list[str]:
    return list(OrderEvent.objects.filter(order=order).order_by("seq").values_list("kind", flat=True))


def test_check_in_marks_the_visit_and_starts_the_stage(tech, visit, technician):
    body = check_in_body(visit.order)
    response = tech.post(job_url(visit, "check-in"), body)

    assert response.status_code == 201, response.content
    data = response.json()
    assert data["on_time"] is True and data["outside_radius"] is False and data["distance_m"] < 1
    visit.refresh_from_db()
    assert visit.state == Appointment.State.CHECKED_IN
    assert visit.stage.state == StageInstance.State.IN_PROGRESS
    visit.order.refresh_from_db()
    assert visit.order.state == "measuring:in_progress"
    event = OrderEvent.objects.get(order=visit.order, kind="job.checked_in")
    assert event.actor == technician
    assert event.payload["recorded_at"] == body["recorded_at"]
    assert event.payload["received_at"]
    start = OrderEvent.objects.get(order=visit.order, kind="stage.start")
    assert start.actor == technician and start.seq > event.seq


def test_replayed_check_in_records_once_and_answers_the_first_result(tech, visit):
    body = check_in_body(visit.order)
    first = tech.post(job_url(visit, "check-in"), body)
    replays = [tech.post(job_url(visit, "check-in"), body) for _ in range(3)]

    assert first.status_code == 201
    for replay in replays:
        assert replay.status_code == 201
        assert replay.json() == first.json()
        assert replay["Client-Event-Replayed"] == "true"
    assert CheckIn.objects.filter(appointment=visit).count() == 1
    assert kinds(visit.order).count("job.checked_in") == 1
    assert kinds(visit.order).count("stage.start") == 1


def test_second_check_in_with_a_new_id_is_a_conflict(tech, visit):
    assert tech.post(job_url(visit, "check-in"), check_in_body(visit.order)).status_code == 201
    again = tech.post(job_url(visit, "check-in"), check_in_body(visit.order))
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_transition"
    assert again.json()["detail"] == "You have already checked in to this visit."  # not "is technician on site"
    assert CheckIn.objects.count() == 1


def test_a_client_event_id_reused_for_another_action_is_refused(tech, visit):
    body = check_in_body(visit.order)
    tech.post(job_url(visit, "check-in"), body)
    reuse = tech.post(job_url(visit, "checklist"),
                      {"client_event_id": body["client_event_id"], "checklist": ["Walls measured"]})
    assert reuse.status_code == 422
    assert reuse.json()["code"] == "client_event_id_reused"


@pytest.mark.parametrize(
    "north_m, outside, approx",
    [(0, False, 0.0), (111.195, False, 111.2), (299, False, 299.0), (333.585, True, 333.6)],
)
def test_distance_and_radius_flag(tech, visit, north_m, outside, approx):
    # 0.001 degree of latitude is 6371008.8 m * pi / 180 / 1000 = 111.195 m.
    response = tech.post(job_url(visit, "check-in"), check_in_body(visit.order, north_m=north_m))
    data = response.json()
    assert data["distance_m"] == pytest.approx(approx, abs=0.2)
    assert data["outside_radius"] is outside
    assert ("job.checkin_outside_radius" in kinds(visit.order)) is outside


def test_radius_is_a_setting(tech, visit, settings):
    settings.CHECKIN_RADIUS_METERS = 50
    data = tech.post(job_url(visit, "check-in"), check_in_body(visit.order, north_m=100)).json()
    assert data["outside_radius"] is True
    event = OrderEvent.objects.get(order=visit.order, kind="job.checkin_outside_radius")
    assert event.payload["radius_m"] == 50 and event.payload["distance_m"] == pytest.approx(100, abs=0.2)


@pytest.mark.parametrize(
    "arrive_after_start, on_time, minutes_late, early, minutes_early",
    [(-20, True, 0, True, 20), (-15, True, 0, False, 15), (10, True, 10, False, 0), (15, True, 15, False, 0),
     (16, False, 16, False, 0), (45, False, 45, False, 0)],
)
def test_on_time_and_early_against_window_and_tolerance(tech, visit, arrive_after_start, on_time, minutes_late,
                                                        early, minutes_early):
    # The measuring stage allows 15 minutes either way: later is late, earlier is early (and still on time).
    now = timezone.now().replace(microsecond=0)
    move_window(visit, now - timedelta(minutes=arrive_after_start))
    data = tech.post(job_url(visit, "check-in"), check_in_body(visit.order, recorded_at=now)).json()
    assert (data["on_time"], data["minutes_late"], data["minutes_early"]) == (on_time, minutes_late, minutes_early)
    payload = OrderEvent.objects.get(order=visit.order, kind="job.checked_in").payload
    assert (payload["on_time"], payload["early"], payload["minutes_early"]) == (on_time, early, minutes_early)
    late_events = OrderEvent.objects.filter(order=visit.order, kind="job.late_arrival")
    assert late_events.exists() is (not on_time)
    if not on_time:
        assert late_events.get().payload["tolerance_minutes"] == 15


def test_recorded_at_kept_as_sent_beside_the_receive_time(tech, visit):
    recorded = timezone.now() - timedelta(hours=2)
    move_window(visit, recorded - timedelta(minutes=5))
    tech.post(job_url(visit, "check-in"), check_in_body(visit.order, recorded_at=recorded))
    checkin = CheckIn.objects.get()
    assert checkin.recorded_at == recorded
    assert checkin.received_at - recorded >= timedelta(hours=2)
    visit.refresh_from_db()
    assert visit.checked_in_at == recorded
    assert checkin.late_sync is False


@pytest.mark.parametrize("offset", [timedelta(hours=1), timedelta(days=400), -timedelta(days=8)])
def test_far_future_or_too_old_recorded_at_is_a_400(tech, visit, offset):
    response = tech.post(job_url(visit, "check-in"),
                         check_in_body(visit.order, recorded_at=timezone.now() + offset))
    assert response.status_code == 400, response.content
    assert "recorded_at" in response.json()["errors"]
    assert CheckIn.objects.count() == 0 and ClientEvent.objects.count() == 0


def test_small_clock_skew_is_accepted(tech, visit, settings):
    settings.DEVICE_CLOCK_SKEW_SECONDS = 300
    ahead = timezone.now() + timedelta(seconds=120)
    assert tech.post(job_url(visit, "check-in"), check_in_body(visit.order, recorded_at=ahead)).status_code == 201


@pytest.mark.parametrize(
    "patch",
    [{"latitude": 91}, {"longitude": "east"}, {"client_event_id": "not-a-uuid"}, {"recorded_at": "yesterday"},
     {"latitude": "NaN"}, {"accuracy_m": -1}],
)
def test_malformed_input_is_a_400(tech, visit, patch):
    response = tech.post(job_url(visit, "check-in"), {**check_in_body(visit.order), **patch})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_another_technicians_job_is_404(client_for, visit, technician2):
    response = client_for(technician2).post(job_url(visit, "check-in"), check_in_body(visit.order))
    assert response.status_code == 404
    assert Appointment.objects.get(pk=visit.pk).state == Appointment.State.BOOKED


def test_check_in_on_an_unassigned_job_is_404(tech, visit):
    Appointment.objects.filter(pk=visit.pk).update(technician=None)
    assert tech.post(job_url(visit, "check-in"), check_in_body(visit.order)).status_code == 404


def test_check_in_before_being_assigned_is_404(client_for, visit, technician2, store_manager):
    # The visit is technician's; technician2 has not been given it (yet): a 404, not a stale job.
    response = client_for(technician2).post(job_url(visit, "check-in"), check_in_body(visit.order))
    assert response.status_code == 404
    assert CheckIn.objects.count() == 0


def test_other_tenants_technician_gets_404(client_for, other_technician, visit):
    response = client_for(other_technician).post(job_url(visit, "check-in"), check_in_body(visit.order))
    assert response.status_code == 404


def test_unknown_job_is_404(tech, visit):
    assert tech.post(job_url(999_999, "check-in"), check_in_body(visit.order)).status_code == 404


@pytest.mark.parametrize("role", ["store_manager", "consumer", "merchant_admin"])
def test_other_roles_may_not_use_the_job_api(request, client_for, visit, role):
    user = request.getfixturevalue(role)
    assert client_for(user).post(job_url(visit, "check-in"), check_in_body(visit.order)).status_code == 403


def test_idempotency_of_client_event_id_is_per_technician(client_for, technician, technician2, visit,
                                                          consumer, store_manager):
    """Two phones may generate the same id by chance; it does not mix their actions."""
    from tests.factories.fieldwork import make_field_order

    shared = str(uuid.uuid4())
    body = {**check_in_body(visit.order), "client_event_id": shared}
    assert client_for(technician).post(job_url(visit, "check-in"), body).status_code == 201
    other_order = make_field_order(store=visit.store, consumer=consumer,
                                   template=visit.order.template_version.template)
    other_visit = make_job(order=other_order, code="measuring", technician=technician2, window_start=visit.window_start)
    response = client_for(technician2).post(job_url(other_visit, "check-in"),
                                            {**check_in_body(other_order), "client_event_id": shared})
    assert response.status_code == 201
    assert CheckIn.objects.count() == 2


def test_invalid_or_unreadable_input_on_another_technicians_job_is_404(client_for, visit, technician2):
    other = client_for(technician2)
    assert other.post(job_url(visit, "check-in"), {**check_in_body(visit.order), "latitude": 91}).status_code == 404
    unreadable = other.post(job_url(visit, "check-in"), data="{not json", content_type="application/json")
    assert unreadable.status_code == 404
    assert tech_is_booked(visit)


def tech_is_booked(visit) -> bool:
    return Appointment.objects.get(pk=visit.pk).state == Appointment.State.BOOKED


def test_a_seen_client_event_id_sent_to_another_technicians_job_is_404(tech, client_for, visit, technician,
                                                                       technician2, consumer, store_manager):
    """The endpoint answers 404 for a job that is not the caller's before looking at replays."""
    from tests.factories.fieldwork import make_field_order

    body = check_in_body(visit.order)
    assert tech.post(job_url(visit, "check-in"), body).status_code == 201
    other_order = make_field_order(store=visit.store, consumer=consumer,
                                   template=visit.order.template_version.template)
    # never assigned to `technician` (a visit that was theirs answers that it was reassigned)
    other_visit = make_job(order=other_order, code="measuring", technician=technician2, window_start=visit.window_start)
    assert tech.post(job_url(other_visit, "check-in"), body).status_code == 404


def test_check_in_query_count(tech, visit, django_assert_max_num_queries):
    body = check_in_body(visit.order)
    # 5 of the fieldwork frame (see the next test), 4 of the events and the stage start (the order's and the
    # stage's updates, both events in one INSERT, the arrival message, which names the technician from the caller's
    # instance: no read; the chain's tail comes with the lock, the store's SLA values from the cache), and the
    # savepoint pair the test's own transaction turns the request's transaction into (the budget of a client
    # already in use, without the token's read: tests/test_statement_budgets.py).
    with django_assert_max_num_queries(11):
        assert tech.post(job_url(visit, "check-in"), body).status_code == 201


@pytest.mark.usefixtures("english")
def test_the_arrival_message_names_the_technician(tech, technician, visit):
    from notifications.models import Notification

    assert technician.first_name
    assert tech.post(job_url(visit, "check-in"), check_in_body(visit.order)).status_code == 201
    arrived = Notification.objects.filter(order=visit.order, kind="technician.arrived")
    assert arrived.exists() and all(n.subject == f"{technician.first_name} has arrived" for n in arrived)


def test_check_in_frame_query_count(tech, visit, django_assert_max_num_queries, monkeypatch):
    """The frame's own statements, the engine and the event log left out: token, the order and the visit locked
    with the job's checks and the replay lookup (one statement), check-in, visit update, stored answer."""
    from fieldwork import events
    from fieldwork.services import visits

    monkeypatch.setattr(events, "record_event", lambda **kwargs: None)
    monkeypatch.setattr(visits.engine, "fire_locked", lambda *args, **kwargs: None)
    body = check_in_body(visit.order)
    with django_assert_max_num_queries(5 + 2):  # + the savepoint pair of the test's transaction
        assert tech.post(job_url(visit, "check-in"), body).status_code == 201


def test_replayed_check_in_query_count(tech, visit, django_assert_max_num_queries):
    body = check_in_body(visit.order)
    tech.post(job_url(visit, "check-in"), body)
    # token, BEGIN, the job locked with its order + replay lookup, the stored answer, COMMIT (a replay takes the lock
    # since the first check-in's job read moved into it: docs/performance.md, "Statement budgets")
    with django_assert_max_num_queries(5):
        response = tech.post(job_url(visit, "check-in"), body)
    assert response["Client-Event-Replayed"] == "true"


def test_the_visits_stage_is_read_when_it_is_not_the_locked_orders_current_stage(visit, django_assert_num_queries):
    from fieldwork.services import actions
    from workflows import engine

    order = engine.lock_order(visit.order_id)
    assert actions._stage_of(order, visit.stage_id).pk == visit.stage_id
    other = StageInstance.objects.filter(order=visit.order).exclude(pk=visit.stage_id).first()
    with django_assert_num_queries(1):
        stage = actions._stage_of(order, other.pk)
    assert stage.pk == other.pk and stage.definition.code == other.definition.code


@pytest.mark.parametrize("minutes_before_window, allowed", [(121, False), (120, True), (30, True)])
def test_a_check_in_long_before_the_window_is_refused_and_records_nothing(tech, visit, minutes_before_window,
                                                                          allowed):
    """Another day's visit tapped by mistake must not start its stage; arriving a little early is on time."""
    now = timezone.now().replace(microsecond=0)
    move_window(visit, now + timedelta(minutes=minutes_before_window))
    body = check_in_body(visit.order, recorded_at=now)

    response = tech.post(job_url(visit, "check-in"), body)

    if allowed:
        assert response.status_code == 201, response.content
        assert (response.json()["on_time"], response.json()["minutes_late"]) == (True, 0)
        return
    assert response.status_code == 409, response.content
    data = response.json()
    assert data["code"] == "too_early"
    assert data["window_start"] == visit.window_start.isoformat()
    assert data["earliest_check_in"] == (visit.window_start - timedelta(minutes=120)).isoformat()
    local = display.when(visit.window_start, tz=visit.store.tzinfo)  # in the technician's language (Chinese)
    assert f"此次上门开始于 {local}（{visit.store.timezone}）" in data["detail"]
    visit.refresh_from_db()
    assert visit.state == Appointment.State.BOOKED and visit.stage.state != StageInstance.State.IN_PROGRESS
    assert CheckIn.objects.count() == 0 and ClientEvent.objects.count() == 0
    assert "job.checked_in" not in kinds(visit.order) and "stage.start" not in kinds(visit.order)
    # Nothing was stored for its id: sent again once the visit is due, it checks in.
    move_window(visit, now + timedelta(minutes=10))
    assert tech.post(job_url(visit, "check-in"), body).status_code == 201


def test_too_early_is_judged_by_the_device_time_and_the_setting(tech, visit, settings):
    """An offline check-in is judged by when it was made, not when it arrived; the margin is a setting."""
    settings.CHECKIN_EARLIEST_MINUTES = 10
    now = timezone.now().replace(microsecond=0)
    move_window(visit, now - timedelta(minutes=30))  # the window began half an hour ago...
    made_offline = now - timedelta(minutes=45)  # ...but the phone checked in 15 minutes before it, offline
    response = tech.post(job_url(visit, "check-in"), check_in_body(visit.order, recorded_at=made_offline))
    assert response.status_code == 409 and response.json()["code"] == "too_early"
    on_arrival = now - timedelta(minutes=38)  # 8 minutes before the window: within the margin
    assert tech.post(job_url(visit, "check-in"), check_in_body(visit.order, recorded_at=on_arrival)).status_code == 201
