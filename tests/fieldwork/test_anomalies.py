"""Anomalies acted on (issue 21, point 7): a check-in outside the radius, or whose accuracy is worse than the
radius, is flagged on the visit and the store's managers are told at once; a file whose SHA-256 is already on the
order is refused with 409 `duplicate_evidence`."""

import pytest

from fieldwork.models import CheckIn, Evidence
from insights.selectors import platform_metrics
from notifications.models import Notification
from tests.factories.fieldwork import book_visit, image_bytes, make_field_order, starting_soon
from tests.fieldwork.helpers import check_in_body, job_url, photo_upload
from workflows.models import OrderEvent

pytestmark = pytest.mark.django_db


def flagged_events(order):
    return list(OrderEvent.objects.filter(order=order, kind="job.checkin_flagged"))


def store_alerts(order):
    return set(Notification.objects.filter(order=order, kind="checkin.flagged")
               .values_list("recipient_id", flat=True))


def test_a_check_in_11_km_away_with_5_km_accuracy_is_flagged_and_the_store_told(tech, visit, store_manager,
                                                                                  client_for):
    body = check_in_body(visit.order, north_m=11_000, accuracy_m=5_000)
    response = tech.post(job_url(visit, "check-in"), body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["outside_radius"], data["low_accuracy"], data["location_flagged"]) == (True, True, True)
    checkin = CheckIn.objects.get(appointment=visit)
    assert checkin.location_flagged and checkin.low_accuracy and checkin.outside_radius
    [event] = flagged_events(visit.order)
    assert event.payload["reasons"] == ["outside_radius", "low_accuracy"] and event.payload["radius_m"] == 300
    assert store_alerts(visit.order) == {store_manager.pk}  # told at once, as the check-in commits
    visits = client_for(store_manager).get(f"/api/v1/orders/{visit.order_id}/").json()["visits"]
    assert (visits[0]["location_flagged"], visits[0]["low_accuracy"], visits[0]["outside_radius"]) == (True, True,
                                                                                                      True)


def test_on_site_but_located_only_to_within_a_kilometre_is_flagged(tech, visit, store_manager):
    response = tech.post(job_url(visit, "check-in"), check_in_body(visit.order, accuracy_m=1_000), format="json")
    assert response.status_code == 201
    assert (response.json()["outside_radius"], response.json()["low_accuracy"]) == (False, True)
    assert [e.payload["reasons"] for e in flagged_events(visit.order)] == [["low_accuracy"]]
    assert store_alerts(visit.order) == {store_manager.pk}


@pytest.mark.parametrize("accuracy", [8.5, 300, None])
def test_a_good_check_in_is_not_flagged_and_nobody_is_bothered(tech, visit, accuracy):
    body = check_in_body(visit.order, north_m=100, accuracy_m=accuracy)
    assert tech.post(job_url(visit, "check-in"), body, format="json").status_code == 201
    assert not CheckIn.objects.get(appointment=visit).location_flagged
    assert flagged_events(visit.order) == [] and store_alerts(visit.order) == set()


def test_the_metrics_count_flagged_check_ins(tech, visit, merchant_admin):
    tech.post(job_url(visit, "check-in"), check_in_body(visit.order, accuracy_m=1_000), format="json")
    arrivals = platform_metrics(user=merchant_admin)["arrivals"]
    assert (arrivals["checkins"], arrivals["low_accuracy"], arrivals["outside_radius"], arrivals["flagged"]) == (
        1, 1, 0, 1)


def test_the_same_photo_twice_on_an_order_is_a_409(tech, visit):
    tech.post(job_url(visit, "check-in"), check_in_body(visit.order), format="json")
    photo = image_bytes(color=(1, 2, 3))
    first = photo_upload(tech, visit, data=photo)
    assert first.status_code == 201, first.content
    again = photo_upload(tech, visit, data=photo)  # the same bytes, a new client_event_id
    assert again.status_code == 409
    assert again.json()["code"] == "duplicate_evidence" and again.json()["evidence"] == first.json()["id"]
    assert Evidence.objects.filter(order=visit.order).count() == 1
    assert OrderEvent.objects.filter(order=visit.order, kind="job.evidence_added").count() == 1
    other = photo_upload(tech, visit, data=image_bytes(color=(10, 200, 10)))
    assert other.status_code == 201


def test_a_refused_duplicate_stays_on_the_orders_record_and_in_the_metrics(tech, visit, merchant_admin,
                                                                             other_admin):
    tech.post(job_url(visit, "check-in"), check_in_body(visit.order), format="json")
    photo = image_bytes(color=(4, 5, 6))
    first = photo_upload(tech, visit, data=photo)
    for _ in range(2):
        assert photo_upload(tech, visit, data=photo).status_code == 409
    refused = OrderEvent.objects.filter(order=visit.order, kind="job.evidence_refused")
    assert refused.count() == 2
    assert {e.payload["duplicate_of"] for e in refused} == {first.json()["id"]}
    assert platform_metrics(user=merchant_admin)["arrivals"]["duplicate_photos_refused"] == 2
    assert platform_metrics(user=other_admin)["arrivals"]["duplicate_photos_refused"] == 0


def test_a_replay_of_the_first_upload_still_answers_its_first_result(tech, visit):
    tech.post(job_url(visit, "check-in"), check_in_body(visit.order), format="json")
    photo = image_bytes(color=(1, 2, 3))
    first = photo_upload(tech, visit, data=photo, cid="4b0f3d2e-7a51-4d7e-9d7c-2f9a3c1b5e60")
    replay = photo_upload(tech, visit, data=photo, cid="4b0f3d2e-7a51-4d7e-9d7c-2f9a3c1b5e60")
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.json() == first.json()


def test_the_same_photo_on_another_order_is_taken(tech, visit, store, consumer, technician, store_manager):
    tech.post(job_url(visit, "check-in"), check_in_body(visit.order), format="json")
    photo = image_bytes(color=(1, 2, 3))
    assert photo_upload(tech, visit, data=photo).status_code == 201
    other = starting_soon(book_visit(order=make_field_order(store=store, consumer=consumer), code="measuring",
                                     consumer=consumer, technician=technician, manager=store_manager),
                          minutes=40)
    tech.post(job_url(other, "check-in"), check_in_body(other.order), format="json")
    assert photo_upload(tech, other, data=photo).status_code == 201
