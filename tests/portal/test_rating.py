"""Rating after the last stage: 1-5 stars for the order and each on-site visit's technician, an optional comment;
given once, changeable for 7 days; recorded as an event; a low rating (1-2) is told to the store at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from core.errors import DomainError
from notifications.models import Notification
from portal.models import Rating
from portal.services import ratings
from tests.factories.workflows import make_order
from tests.portal.conftest import ONE_STEP, url, verify
from workflows.models import OrderEvent

pytestmark = pytest.mark.django_db

def test_a_rating_is_stored_and_recorded(done_order, consumer):
    rating = ratings.rating_give(order=done_order, score="5", comment="Neat work",
                                 visits={str(done_order.job.pk): "4"})
    assert (rating.score, rating.comment) == (5, "Neat work")
    assert [(v.appointment_id, v.technician_id, v.score) for v in rating.visits.all()] == [
        (done_order.job.pk, done_order.job.technician_id, 4)]
    event = OrderEvent.objects.get(order=done_order, kind="rating.given")
    assert event.payload["score"] == 5 and event.payload["low"] is False and event.actor_id == consumer.pk
    assert not Notification.objects.filter(order=done_order, kind="rating.low").exists()


def test_a_low_rating_is_told_to_the_store_at_once(done_order, store_manager):
    ratings.rating_give(order=done_order, score=4, visits={done_order.job.pk: 2})
    told = Notification.objects.filter(order=done_order, kind="rating.low")
    assert [n.recipient_id for n in told] == [store_manager.pk]


@pytest.mark.parametrize("score, visits", [(0, {}), (6, {}), ("x", {}), (3, {"999999": 3}), (3, {"abc": 3}),
                                           (3, {"JOB": 9})])
def test_stars_are_one_to_five_for_the_orders_own_visits(done_order, score, visits):
    visits = {(done_order.job.pk if k == "JOB" else k): v for k, v in visits.items()}
    with pytest.raises(DomainError) as exc:
        ratings.rating_give(order=done_order, score=score, visits=visits)
    assert (exc.value.code, exc.value.status_code) == ("invalid", 400)
    assert not Rating.objects.exists()


def test_only_a_completed_order_is_rated(design_order):
    with pytest.raises(DomainError) as exc:
        ratings.rating_give(order=design_order, score=5)
    assert (exc.value.code, exc.value.status_code) == ("invalid_transition", 409)


def test_a_rating_can_be_changed_for_seven_days_then_it_is_final(done_order):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        ratings.rating_give(order=done_order, score=2)
        clock.shift(timedelta(days=6, hours=23))
        ratings.rating_give(order=done_order, score=4, comment="They came back and fixed it")
        assert Rating.objects.get().score == 4
        clock.shift(timedelta(hours=2))
        with pytest.raises(DomainError) as exc:
            ratings.rating_give(order=done_order, score=1)
        assert (exc.value.code, exc.value.status_code) == ("rating_final", 409)
    assert Rating.objects.get().score == 4
    assert [e.payload["changed"] for e in OrderEvent.objects.filter(order=done_order, kind="rating.given")] == [
        False, True]


def test_rating_from_the_page(client, done_order, sms):
    html = client.get(url(done_order)).content.decode()
    assert 'data-testid="rating"' in html and 'data-testid="rate"' not in html  # the code first
    verify(client, done_order, sms)
    html = client.get(url(done_order)).content.decode()
    assert f'name="visit_{done_order.job.pk}"' in html
    response = client.post(url(done_order, "rating/"), {"score": "5", f"visit_{done_order.job.pk}": "5",
                                                      "comment": "Great"})
    assert response.status_code == 302 and "done=rated" in response["Location"]
    html = client.get(url(done_order)).content.decode()
    assert 'data-testid="rating-given" data-score="5"' in html and 'data-kind="rating.given"' in html
    bad = client.post(url(done_order, "rating/"), {"score": "9"})
    assert bad.status_code == 400 and Rating.objects.get().score == 5


def test_ratings_show_in_the_platform_metrics_per_store_template_and_technician(done_order, store, consumer,
                                                                                store_manager, technician,
                                                                                merchant_admin, other_admin):
    from insights.selectors import platform_metrics

    second = make_order(store=store, consumer=consumer, definition=ONE_STEP, actor=store_manager)
    ratings.rating_give(order=done_order, score=5, visits={done_order.job.pk: 4})
    ratings.rating_give(order=second, score=2)
    figures = platform_metrics(user=merchant_admin)["ratings"]
    assert (figures["count"], figures["average"], figures["low"]) == (2, 3.5, 1)
    assert [(r["store"], r["count"], r["average"]) for r in figures["by_store"]] == [(store.pk, 2, 3.5)]
    assert [(r["count"], r["average"]) for r in figures["by_template"]] == [(1, 5.0), (1, 2.0)]
    assert [(r["technician"], r["count"], r["average"]) for r in figures["by_technician"]] == [
        (technician.pk, 1, 4.0)]
    assert platform_metrics(user=other_admin)["ratings"]["count"] == 0  # another brand sees none of them


def test_ratings_per_day_give_the_dashboard_its_chart_in_chinese(done_order, store, consumer, store_manager,
                                                                 merchant_admin, client):
    """Each day's count and average (the service's time zone) feed the platform dashboard's ratings chart; the
    totals are the days summed."""
    from insights.selectors import platform_metrics

    second = make_order(store=store, consumer=consumer, definition=ONE_STEP, actor=store_manager)
    third = make_order(store=store, consumer=consumer, definition=ONE_STEP, actor=store_manager)
    ratings.rating_give(order=done_order, score=5)
    ratings.rating_give(order=second, score=2)
    Rating.objects.filter(order=done_order).update(created_at=timezone.now() - timedelta(days=1))
    ratings.rating_give(order=third, score=4)
    by_day = platform_metrics(user=merchant_admin)["ratings"]["by_day"]
    today = timezone.localdate()
    assert by_day == [{"date": (today - timedelta(days=1)).isoformat(), "count": 1, "average": 5.0},
                      {"date": today.isoformat(), "count": 2, "average": 3.0}]
    figures = platform_metrics(user=merchant_admin)["ratings"]
    assert (figures["count"], figures["average"], figures["low"]) == (3, 3.67, 1)

    client.force_login(merchant_admin)
    html = client.get("/admin/insights/dashboard/").content.decode()
    section = html.split('data-testid="ratings"', 1)[1].split("</section>", 1)[0]
    assert "每日平均服务评价（星级）" in section
    assert f"{today.isoformat()}：2 条服务评价，平均 3.0 星" in section  # the day's bar, told in words
    assert section.count("<rect") == 2
    assert "平均服务评价（3 条，其中低分 1 条）" in html
