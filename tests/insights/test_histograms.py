"""Approximate duration percentiles (insights.histograms, ADR 0007): p50/p90 from per-day histograms with fixed
log-spaced buckets are within the stated bound (2.5 %) of the exact percentile_cont, for every role's scope and any
window; the rolled days plus the live rest give exactly the all-live binned figure; re-rolling a day replaces its
histograms; the statements a request sends do not grow with days or orders."""

import math
import random
from datetime import datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from insights import histograms, rollups
from insights.histograms import BOUND, PERCENTILES
from insights.models import DayHistogram
from insights.selectors import metrics_for_scope, metrics_scope, scoped_orders
from tests.factories.fieldwork import make_job
from tests.factories.workflows import make_order
from workflows.models import StageInstance

S = StageInstance.State
NOW = timezone.make_aware(datetime(2026, 3, 20, 10, 30))  # site time zone (Asia/Shanghai)
DURATIONS = st.floats(min_value=1, max_value=60 * 86400, allow_nan=False)  # a second to 60 days


def exact(durations: list[float]) -> dict[float, float]:
    """percentile_cont, the exact figure the approximate one stands for."""
    values = sorted(durations)
    out = {}
    for p in PERCENTILES:
        pos = p * (len(values) - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, len(values) - 1)
        out[p] = values[lo] + (values[hi] - values[lo]) * (pos - lo)
    return out


def assert_within_bound(approximate: dict, durations: list[float]) -> None:
    for p, value in exact(durations).items():
        # The bound, plus the rounding of the figure to 0.1 s.
        assert abs(approximate[p] - value) <= BOUND * value + 0.05, (p, approximate[p], value)


@given(st.lists(DURATIONS, min_size=1, max_size=200))
@settings(max_examples=300, deadline=None)
def test_binned_percentiles_are_within_the_bound_of_the_exact_ones(durations):
    binned = {}
    for d in durations:
        binned[histograms.bucket(d)] = binned.get(histograms.bucket(d), 0) + 1
    assert_within_bound(histograms.percentiles(binned), durations)


def test_the_buckets():
    assert histograms.bucket(0) == histograms.bucket(0.5) == -1 and histograms.middle(-1) == 0.0
    assert histograms.bucket(1) == 0 and histograms.bucket(1.05) == 1
    assert histograms.percentiles({}) == {0.5: None, 0.9: None}
    # One duration: p50 = p90 = its bucket's middle, within the bound of it.
    assert_within_bound(histograms.percentiles({histograms.bucket(7200): 1}), [7200])


@pytest.fixture
def world(merchant, store, store2, other_store, consumer):
    merchant.tier = "enterprise"
    merchant.save()
    orders = [make_order(store=st_, consumer=consumer) for st_ in (store, store, store2, other_store)]
    return list(StageInstance.objects.filter(order__in=orders).order_by("pk"))


def _set(stages, durations, seconds_ago):
    """Each stage done, its duration and completion drawn (cycled over the stages)."""
    for i, stage in enumerate(stages):
        done = NOW - timedelta(seconds=seconds_ago[i % len(seconds_ago)])
        StageInstance.objects.filter(pk=stage.pk).update(
            state=S.DONE, completed_at=done, entered_at=done - timedelta(seconds=durations[i % len(durations)]))


def _exact_of(scope) -> dict[str, list[float]]:
    by_code: dict[str, list[float]] = {}
    for code, entered, completed in histograms.done_stages(scoped_orders(scope), scope.start, scope.end,
                                                            scope.technician).values_list(
            "definition__code", "entered_at", "completed_at"):
        by_code.setdefault(code, []).append((completed - entered).total_seconds())
    return by_code


def _windows():
    day = NOW.date()
    at = lambda d, h=0: timezone.make_aware(datetime.combine(day - timedelta(days=d), time(h)))  # noqa: E731
    return [(None, None), (at(6), None), (at(9, 7), at(2)), (None, at(1, 15)), (at(0, 3), None)]


def _live_binned(monkeypatch, scope):
    with monkeypatch.context() as m:
        m.setattr(rollups, "rolled_until", lambda: None)
        return histograms.window_percentiles(scope, scoped_orders(scope))


@pytest.mark.django_db
@given(durations=st.lists(DURATIONS, min_size=1, max_size=24),
       seconds_ago=st.lists(st.integers(0, 10 * 86400), min_size=1, max_size=24))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_rolled_percentiles_are_within_the_bound_for_every_role(
        world, monkeypatch, durations, seconds_ago, operator, merchant_admin, store_manager, other_admin):
    _set(world, durations, seconds_ago)
    rollups.roll(NOW - timedelta(minutes=10))
    checked = 0
    for user in (operator, merchant_admin, store_manager, other_admin):
        for start, end in _windows():
            scope = metrics_scope(user=user, date_from=start, date_to=end)
            rolled = histograms.window_percentiles(scope, scoped_orders(scope))
            expected = _exact_of(scope)
            assert set(rolled) == set(expected)
            for code, values in expected.items():
                assert_within_bound(rolled[code], values)
                checked += 1
            # Rolled days + the live rest = the whole window binned live.
            assert rolled == _live_binned(monkeypatch, scope)
            # What the API answers.
            api = {r["stage_code"]: {0.5: r["p50_seconds"], 0.9: r["p90_seconds"]}
                   for r in metrics_for_scope(scope)["stage_durations"]}
            assert api == rolled
    assert checked > 0


@pytest.mark.django_db
def test_a_technician_filter_bins_the_whole_window_live(world, merchant_admin, technician):
    _set(world, [3600, 7200, 10800, 86400, 5 * 86400], [100, 5000, 3 * 86400, 8 * 86400])
    rollups.roll(NOW - timedelta(minutes=10))
    for stage in world[:3]:
        make_job(order=stage.order, code=stage.definition.code, technician=technician, window_start=NOW)
    DayHistogram.objects.update(counts={"0": 10**6})  # not read with a technician filter
    scope = metrics_scope(user=merchant_admin, technician=technician.pk)
    rolled = histograms.window_percentiles(scope, scoped_orders(scope))
    expected = _exact_of(scope)
    assert set(rolled) == set(expected) and sum(len(v) for v in expected.values()) == 3
    for code, values in expected.items():
        assert_within_bound(rolled[code], values)


@pytest.mark.django_db
def test_an_empty_window_and_a_single_duration(world, merchant_admin):
    rollups.roll(NOW - timedelta(minutes=10))  # nothing done yet
    scope = metrics_scope(user=merchant_admin)
    assert histograms.window_percentiles(scope, scoped_orders(scope)) == {}
    assert metrics_for_scope(scope)["stage_durations"] == []
    _set(world[:1], [7200], [2 * 86400])
    rollups.roll(NOW - timedelta(minutes=10))
    assert DayHistogram.objects.count() == 1
    (row,) = metrics_for_scope(scope)["stage_durations"]
    assert row["count"] == 1 and row["p50_seconds"] == row["p90_seconds"]
    assert_within_bound({0.5: row["p50_seconds"], 0.9: row["p90_seconds"]}, [7200])
    # A window holding no done stage, though days are rolled.
    day = NOW.date() - timedelta(days=5)
    scope = metrics_scope(user=merchant_admin, date_from=rollups.day_start(day),
                          date_to=rollups.day_start(day + timedelta(days=1)))
    assert histograms.window_percentiles(scope, scoped_orders(scope)) == {}


@pytest.mark.django_db
def test_rolling_a_day_again_replaces_its_histograms(world, operator):
    rng = random.Random(7)
    _set(world, [rng.uniform(60, 400_000) for _ in world], [rng.randrange(5 * 86400) for _ in world])
    rollups.roll_finished_days(now=NOW)

    def stored():
        return sorted((h.day, h.store_id, h.code, sorted(h.counts.items()), sorted(h.cumulative.items()))
                      for h in DayHistogram.objects.all())
    first = stored()
    assert first and all(sum(n for _b, n in c) for *_k, c, _cumulative in first)
    rollups.roll_finished_days(now=NOW)
    rollups.roll(NOW - timedelta(minutes=10), NOW.date() - timedelta(days=30))
    assert stored() == first
    # A stage done late for yesterday: the next run replaces that day's histogram, nothing is counted twice.
    scope = metrics_scope(user=operator)
    before = sum(sum(h.counts.values()) for h in DayHistogram.objects.all())
    StageInstance.objects.filter(pk=world[0].pk).update(completed_at=NOW - timedelta(days=1),
                                                         entered_at=NOW - timedelta(days=2))
    rollups.roll_finished_days(now=NOW + timedelta(hours=1))
    assert sum(sum(h.counts.values()) for h in DayHistogram.objects.all()) == before
    expected = _exact_of(scope)
    rolled = histograms.window_percentiles(scope, scoped_orders(scope))
    for code, values in expected.items():
        assert_within_bound(rolled[code], values)


@pytest.mark.django_db
def test_the_statements_do_not_grow_with_days_or_orders(world, operator, store, consumer,
                                                        django_assert_max_num_queries):
    def statements(start=None):
        scope = metrics_scope(user=operator, date_from=start)
        with CaptureQueriesContext(connection) as ctx:
            histograms.window_percentiles(scope, scoped_orders(scope))
        return len(ctx.captured_queries)

    _set(world, [3600], [3600])
    rollups.roll_finished_days(now=NOW)
    few = statements(), statements(NOW - timedelta(days=3, hours=5))
    more = list(StageInstance.objects.filter(order__in=[make_order(store=store, consumer=consumer)
                                                        for _ in range(3)]))
    _set(world + more, [60, 3600, 86400, 3 * 86400], [h * 3600 for h in range(0, 30 * 24, 7)])
    rollups.roll_finished_days(now=NOW)
    assert (statements(), statements(NOW - timedelta(days=3, hours=5))) == few
    # The roll-up's state, the latest rolled day per store and stage code on both edges of the window, those rows,
    # one grouped query per live range (here two: the first day's part, the minutes after the roll-up).
    scope = metrics_scope(user=operator, date_from=NOW - timedelta(days=3, hours=5))
    with django_assert_max_num_queries(5):
        histograms.window_percentiles(scope, scoped_orders(scope))
