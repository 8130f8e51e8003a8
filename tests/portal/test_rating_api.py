"""The contract's `POST /api/v1/orders/{id}/rating/`: the order's consumer rates a completed order through the API
(the same service as the tracking page's form): 201 first, 200 when changed, 409 before completion and after the
7 days, 400 for stars outside 1-5 or a visit not the order's; other consumers 404, staff and technicians 403."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from portal.models import Rating
from workflows.models import OrderEvent

pytestmark = pytest.mark.django_db


def rate(client, order, body):
    return client.post(f"/api/v1/orders/{order.pk}/rating/", body, format="json")


def test_the_consumer_rates_the_order_and_its_visit_then_changes_it(client_for, done_order, consumer):
    me = client_for(consumer)
    given = rate(me, done_order, {"score": 5, "comment": "Neat work",
                                  "visits": [{"appointment": done_order.job.pk, "score": 4}]})
    assert given.status_code == 201, given.content
    body = given.json()
    assert (body["order"], body["score"], body["comment"]) == (done_order.pk, 5, "Neat work")
    assert body["visits"] == [{"appointment": done_order.job.pk, "technician": done_order.job.technician_id,
                               "score": 4}]
    changed = rate(me, done_order, {"score": 3})
    assert changed.status_code == 200, changed.content
    assert (changed.json()["score"], changed.json()["visits"]) == (3, [])
    assert OrderEvent.objects.filter(order=done_order, kind="rating.given").count() == 2


def test_after_seven_days_the_rating_is_final(client_for, done_order, consumer):
    me = client_for(consumer)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        assert rate(me, done_order, {"score": 2}).status_code == 201
        clock.shift(timedelta(days=7, seconds=1))
        final = rate(me, done_order, {"score": 5})
    assert (final.status_code, final.json()["code"]) == (409, "rating_final")
    assert Rating.objects.get().score == 2


def test_an_order_not_complete_is_not_rated(client_for, design_order, consumer):
    answer = rate(client_for(consumer), design_order, {"score": 5})
    assert (answer.status_code, answer.json()["code"]) == (409, "invalid_transition")


@pytest.mark.parametrize("body", [{"score": 0}, {"score": 6}, {"score": "x"}, {},
                                  {"score": 3, "visits": [{"appointment": 999999, "score": 3}]},
                                  {"score": 3, "visits": [{"appointment": "JOB", "score": 9}]},
                                  {"score": 3, "visits": "all"}])
def test_stars_are_one_to_five_for_the_orders_own_visits(client_for, done_order, consumer, body):
    if body.get("visits") and isinstance(body["visits"], list) and body["visits"][0]["appointment"] == "JOB":
        body = {**body, "visits": [{"appointment": done_order.job.pk, "score": 9}]}
    answer = rate(client_for(consumer), done_order, body)
    assert answer.status_code == 400, answer.content
    assert not Rating.objects.exists()


def test_only_the_orders_consumer_rates_it(client_for, done_order, store_manager, merchant_admin, technician,
                                           other_consumer):
    for user, expected in ((other_consumer, 404), (store_manager, 403), (merchant_admin, 403), (technician, 403)):
        assert rate(client_for(user), done_order, {"score": 1}).status_code == expected, user
    assert not Rating.objects.exists()
