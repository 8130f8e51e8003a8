"""The per-day roll-ups (insights.rollups): the metrics read from rolled days plus the live rest give exactly the
figures of the live computation, for any window and every role; each tenant sees only its own days; rolling a day
again replaces it; a late fact for a recently rolled day is picked up by the next run."""

import random
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from insights import rollups
from insights.models import DayFigure, RollupState, SlaBreach
from insights.selectors import metrics_for_scope, metrics_scope
from tests.factories.workflows import make_order
from workflows.models import OrderEvent, StageInstance

S = StageInstance.State
NOW = timezone.make_aware(datetime(2026, 3, 20, 10, 30))  # site time zone (Asia/Shanghai)


def _history(rng, order, technician, days=12):
    """Done stages, check-ins and breaches at random moments over the last `days` days, near midnight too."""
    def moment():
        return NOW - timedelta(seconds=rng.randrange(days * 86400))
    for stage in StageInstance.objects.filter(order=order):
        done = moment()
        StageInstance.objects.filter(pk=stage.pk).update(
            state=S.DONE, completed_at=done, entered_at=done - timedelta(seconds=rng.randrange(1, 400_000),
                                                                         microseconds=rng.randrange(10**6)),
            waiting_seconds=rng.randrange(5000), rework_rounds=rng.choice([0, 0, 1, 2]))
    seq = OrderEvent.objects.filter(order=order).count()
    for _ in range(rng.randrange(3, 9)):
        seq += 1
        payload = {"on_time": rng.random() < 0.7, "outside_radius": rng.random() < 0.2,
                   "low_accuracy": rng.random() < 0.1, "distance_m": rng.uniform(0, 900)}
        if rng.random() < 0.8:
            payload["early"] = rng.random() < 0.3
        if rng.random() < 0.1:
            del payload["distance_m"]
        OrderEvent.objects.create(order=order, seq=seq, kind="job.checked_in", actor=technician,
                                  actor_role="technician", created_at=moment(), payload=payload, hash="x" * 64)
    stage = StageInstance.objects.filter(order=order).first()
    for kind in rng.sample([SlaBreach.Kind.STAGE_OVERDUE, SlaBreach.Kind.APPROVAL_OVERDUE], rng.randrange(3)):
        SlaBreach.objects.create(kind=kind, order=order, merchant_id=order.merchant_id, store_id=order.store_id,
                                 stage=stage, due_at=NOW - timedelta(days=20), detected_at=moment())


@pytest.fixture
def world(merchant, store, store2, other_merchant, other_store, consumer, technician, other_technician):
    merchant.tier = other_merchant.tier = "enterprise"
    merchant.save()
    other_merchant.save()
    rng = random.Random(22)
    for st, tech in ((store, technician), (store, technician), (store2, technician), (other_store, other_technician)):
        _history(rng, make_order(store=st, consumer=consumer), tech)
    return rng


def _windows(rng, n=12):
    days = [None] + [(NOW - timedelta(days=d)).date() for d in range(14)]
    for _ in range(n):
        a, b = rng.choice(days), rng.choice(days)
        start = timezone.make_aware(datetime.combine(a, time.min)) if a else None
        end = timezone.make_aware(datetime.combine(b, time.min)) + timedelta(days=1) if b else None
        if rng.random() < 0.4 and start is not None:  # a date-time, not a whole day
            start += timedelta(seconds=rng.randrange(86400))
        if start and end and start >= end:
            start, end = end - timedelta(days=1), start + timedelta(days=1)
        yield start, end
    yield None, None


def _live(monkeypatch, scope):
    with monkeypatch.context() as m:
        m.setattr(rollups, "rolled_until", lambda: None)
        return _figures(scope)


def _figures(scope):
    """The metrics, without the moment the money owed holds for (the payments app's snapshot, or now when read
    live: tests/payments/test_money_rollup.py)."""
    metrics = metrics_for_scope(scope)
    for row in metrics["payments"]:
        row.pop("outstanding_as_of")
    return metrics


@pytest.mark.django_db
def test_rolled_figures_equal_the_live_ones_for_any_window_and_role(
        world, monkeypatch, operator, merchant_admin, store_manager, other_admin, other_store):
    rows = rollups.roll_finished_days(now=NOW)
    assert rows > 0 and RollupState.objects.get().rolled_until == NOW - timedelta(minutes=10)  # today up to 10:20
    compared = 0
    for user in (operator, merchant_admin, store_manager, other_admin):
        for start, end in _windows(world):
            scope = metrics_scope(user=user, date_from=start, date_to=end)
            rolled = _figures(scope)
            assert rolled == _live(monkeypatch, scope), (user.username, start, end)
            compared += rolled["arrivals"]["checkins"] > 0
    assert compared > 10  # the windows did hold figures
    # With a store filter, and for the other tenant: only its own days.
    scope = metrics_scope(user=other_admin)
    mine = _figures(scope)
    assert mine == _live(monkeypatch, scope)
    assert {r["store"] for r in mine["sla_breaches"]["per_store"]} <= {other_store.pk}
    assert mine["arrivals"]["checkins"] == OrderEvent.objects.filter(
        kind="job.checked_in", order__merchant=other_admin.merchant).count()


@pytest.mark.django_db
def test_the_rolled_days_are_what_is_read(world, monkeypatch, operator):
    rollups.roll_finished_days(now=NOW)
    scope = metrics_scope(user=operator, date_to=NOW - timedelta(days=2))
    before = _figures(scope)
    DayFigure.objects.filter(figure="checkins", key="total").update(count=10**6)
    assert _figures(scope)["arrivals"]["checkins"] > 10**6 > before["arrivals"]["checkins"]
    assert _live(monkeypatch, scope) == before


@pytest.mark.django_db
def test_rolling_again_replaces_and_late_facts_are_picked_up(world, monkeypatch, operator, store, technician):
    rollups.roll_finished_days(now=NOW)
    first = sorted(DayFigure.objects.values_list("day", "store_id", "figure", "key", "count", "total"))
    rollups.roll_finished_days(now=NOW)
    rollups.roll(NOW - timedelta(minutes=10), NOW.date() - timedelta(days=30))
    assert sorted(DayFigure.objects.values_list("day", "store_id", "figure", "key", "count", "total")) == first

    # A check-in committed late for yesterday (a transaction that began before midnight): the next run re-rolls it.
    order = make_order(store=store, consumer=_any_consumer())
    yesterday_noon = timezone.make_aware(datetime.combine(NOW.date() - timedelta(days=1), time(12)))
    OrderEvent.objects.create(order=order, seq=99, kind="job.checked_in", actor=technician, actor_role="technician",
                              created_at=yesterday_noon, payload={"on_time": True, "distance_m": 1.5}, hash="y" * 64)
    scope = metrics_scope(user=operator)
    assert _figures(scope) != _live(monkeypatch, scope)  # stale until the next run
    rollups.roll_finished_days(now=NOW + timedelta(hours=1))
    assert _figures(scope) == _live(monkeypatch, scope)


def _any_consumer():
    from tenancy.models import User
    return User.objects.filter(role=User.Role.CONSUMER).first()


def test_split_of_a_window_into_rolled_days_and_live_ranges(settings):
    day = NOW.date()
    until = NOW - timedelta(minutes=10)
    start = timezone.make_aware(datetime.combine(day - timedelta(days=5), time(6)))
    end = timezone.make_aware(datetime.combine(day - timedelta(days=1), time.min))
    days, live = rollups._split(start, end, until=until)
    assert days == (day - timedelta(days=4), day - timedelta(days=2))
    assert live == [(start, rollups.day_start(day - timedelta(days=4)))]
    assert rollups._split(None, None, until=None) == (None, [(None, None)])
    # Everything: every rolled day, today's part up to `until`, the rest live.
    assert rollups._split(None, None, until=until) == ((None, day), [(until, None)])
    # A window ending before `until` today: whole days only.
    assert rollups._split(None, NOW - timedelta(minutes=30), until=until) == (
        (None, day - timedelta(days=1)), [(rollups.day_start(day), NOW - timedelta(minutes=30))])
    # A window inside today: live.
    today = rollups.day_start(day)
    assert rollups._split(today + timedelta(hours=1), None, until=until) == (None, [(today + timedelta(hours=1), None)])
    assert Decimal(1) == rollups._seconds(timedelta(seconds=1))


@pytest.mark.django_db
def test_the_periodic_task_is_scheduled_and_rolls(settings, world):
    from insights import tasks

    assert {"task": "insights.tasks.roll_up_days", "schedule": 900.0} in settings.CELERY_BEAT_SCHEDULE.values()
    assert tasks.roll_up_days() > 0
    assert timezone.now() - RollupState.objects.get().rolled_until < timedelta(minutes=11)
