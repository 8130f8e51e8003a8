"""The metrics' orders figure from per-day roll-ups (insights.order_counts): the rolled creation days, the orders
finished since the roll-up and the live rest give exactly the all-live count (the orders created in the window, by
their status now), for random orders, creation times, status changes before and after the roll-up, random windows
and every role; a status change between two roll-ups moves its creation day's figures; rolling again changes
nothing; and the figure costs a fixed number of statements, whatever the number of orders."""

import itertools
import random
from datetime import datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from insights import order_counts, rollups
from insights.models import DayFigure
from insights.selectors import metrics_for_scope, metrics_scope, orders_summary, scoped_orders
from tests.factories.workflows import make_order
from workflows.models import ServiceOrder

NOW = timezone.make_aware(datetime(2026, 3, 20, 10, 30))  # site time zone (Asia/Shanghai)
UNTIL = NOW - timedelta(minutes=10)  # what roll_finished_days(now=NOW) rolls up to
Status = ServiceOrder.Status
NUMBERS = itertools.count()
END = {Status.COMPLETED: "completed_at", Status.CANCELLED: "cancelled_at"}


def _clone(order: ServiceOrder, n: int) -> list[ServiceOrder]:
    """n more orders like `order` (same merchant, store, template), active, made now."""
    fields = {f.attname: getattr(order, f.attname) for f in ServiceOrder._meta.concrete_fields
              if f.attname not in ("id", "number", "external_ref", "current_stage_id")}
    return ServiceOrder.objects.bulk_create(
        [ServiceOrder(**fields, number=f"T{next(NUMBERS):08d}") for _ in range(n)])


def _set(order: ServiceOrder, *, created=None, status=None, at=None) -> None:
    """Give the order its creation time, or move it to a final status at `at` (as the engine does: the status and
    its time together)."""
    changes = {}
    if created is not None:
        changes["created_at"] = created
    if status is not None:
        changes.update(status=status, **{END[status]: at})
    ServiceOrder.objects.filter(pk=order.pk).update(**changes)


def _finish(rng, order, created, after: datetime) -> None:
    """Maybe complete or cancel it at a random moment after `after` (and after its creation), up to NOW."""
    if rng.random() < 0.65:
        status = Status.COMPLETED if rng.random() < 0.7 else Status.CANCELLED
        start = max(created, after)
        _set(order, status=status, at=start + (NOW - start) * rng.random())


@pytest.fixture
def world(merchant, store, store2, other_merchant, other_store, consumer):
    """About 60 orders in three stores of two merchants, created over the last 40 days (some in the last minutes,
    some near midnight), a part of them completed or cancelled since, some of those in the last 10 minutes (after
    the roll-up's moment)."""
    merchant.tier = other_merchant.tier = "enterprise"
    merchant.save()
    other_merchant.save()
    rng = random.Random(2204)
    orders = []
    for st, n in ((store, 25), (store2, 15), (other_store, 20)):
        first = make_order(store=st, consumer=consumer)
        orders += [first, *_clone(first, n - 1)]
    for order in orders:
        roll = rng.random()
        if roll < 0.1:  # in the minutes before NOW: after the roll-up's moment
            created = NOW - timedelta(seconds=rng.randrange(1, 900))
        elif roll < 0.3:  # near a midnight
            day = (NOW - timedelta(days=rng.randrange(1, 40))).date()
            created = timezone.make_aware(datetime.combine(day, time.min)) + timedelta(
                seconds=rng.choice([-1, 0, 1, 59, -59]))
        else:
            created = NOW - timedelta(seconds=rng.randrange(40 * 86400))
        _set(order, created=created)
        _finish(rng, order, created, created)
    return rng


def _windows(rng, n=14):
    """Random windows: whole days, date-times, open ends, ends in today before and after the roll-up's moment."""
    today = rollups.day_start(NOW.date())
    edges = [None, UNTIL, UNTIL - timedelta(minutes=1), UNTIL + timedelta(minutes=1), today, NOW]
    for _ in range(n):
        def edge():
            if rng.random() < 0.25:
                return rng.choice(edges)
            moment = today - timedelta(days=rng.randrange(45))
            return moment + timedelta(seconds=rng.randrange(86400)) if rng.random() < 0.5 else moment
        start, end = edge(), edge()
        if start is not None and end is not None and start > end:
            start, end = end, start
        yield start, end
    yield None, None


def _live(monkeypatch, scope):
    """The all-live count: the orders created in the window, by their status now."""
    with monkeypatch.context() as m:
        m.setattr(rollups, "rolled_until", lambda: None)
        live = orders_summary(scope)
    qs = scoped_orders(scope).filter(scope.period("created_at"))
    assert live == {"created": qs.count(), "active": qs.filter(status=Status.ACTIVE).count(),
                    "completed": qs.filter(status=Status.COMPLETED).count(),
                    "cancelled": qs.filter(status=Status.CANCELLED).count()}
    return live


def _compare(monkeypatch, users, rng, **filters) -> int:
    """Rolled (with the other figures, and alone) equals live for random windows; returns how many held orders."""
    held = 0
    for user in users:
        for start, end in _windows(rng):
            scope = metrics_scope(user=user, date_from=start, date_to=end, **filters)
            live = _live(monkeypatch, scope)
            assert metrics_for_scope(scope)["orders"] == live, (user.username, start, end, filters)
            assert orders_summary(scope) == live, (user.username, start, end, filters)
            held += live["created"] > 0
    return held


def _day_rows():
    return sorted(DayFigure.objects.filter(figure=order_counts.FIGURE).values_list(
        "day", "merchant_id", "store_id", "key", "count"))


@pytest.mark.django_db
def test_rolled_orders_equal_the_live_count_for_any_window_and_role(
        world, monkeypatch, operator, merchant_admin, store_manager, other_admin, merchant, store2, technician):
    rollups.roll_finished_days(now=NOW)
    assert _day_rows()  # the creation days are rolled
    users = (operator, merchant_admin, store_manager, other_admin)
    assert _compare(monkeypatch, users, world) > 20  # the windows did hold orders
    assert _compare(monkeypatch, (operator,), world, merchant=merchant.pk, store=store2.pk) > 3
    # Statuses change after the roll-up: orders created long ago finish now (their creation days were rolled with
    # them active), and new orders come.
    for order in ServiceOrder.objects.filter(status=Status.ACTIVE, created_at__lt=UNTIL):
        _finish(world, order, order.created_at, UNTIL)
    assert _compare(monkeypatch, users, world) > 20
    # A technician filter, or a user in another time zone: read live, the same count.
    assert _compare(monkeypatch, (operator,), world, technician=technician.pk) >= 0
    with timezone.override("UTC"):
        assert _compare(monkeypatch, (merchant_admin,), world) > 5
    # The next roll-up moves the finished orders' creation days; still the same figures.
    rollups.roll_finished_days(now=NOW + timedelta(minutes=15))
    assert _compare(monkeypatch, users, world) > 20


@pytest.mark.django_db
def test_a_status_change_between_two_roll_ups_moves_its_creation_day(world, monkeypatch, operator, store):
    rollups.roll_finished_days(now=NOW)
    old = ServiceOrder.objects.filter(store=store, status=Status.ACTIVE, created_at__lt=NOW - timedelta(days=5))[0]
    day = timezone.localtime(old.created_at).date()
    key = (day, old.merchant_id, old.store_id)

    def rolled(k):
        row = DayFigure.objects.filter(day=day, merchant_id=key[1], store_id=key[2], figure="orders", key=k).first()
        return row.count if row else 0

    before = {k: rolled(k) for k in ("created", "completed", "cancelled")}
    scope = metrics_scope(user=operator)
    _set(old, status=Status.CANCELLED, at=NOW + timedelta(minutes=5))  # after the roll-up
    assert metrics_for_scope(scope)["orders"] == _live(monkeypatch, scope)
    assert {k: rolled(k) for k in before} == before  # the rolled day still has it active: the request corrects it

    rollups.roll_finished_days(now=NOW + timedelta(minutes=20))  # its creation day is recounted
    assert rolled("cancelled") == before["cancelled"] + 1 and rolled("created") == before["created"]
    assert metrics_for_scope(scope)["orders"] == _live(monkeypatch, scope)

    # A change committed late (its time before the last roll-up's moment, by less than the margin): stale until the
    # next run, which recounts its creation day.
    late = ServiceOrder.objects.filter(status=Status.ACTIVE, created_at__lt=NOW - timedelta(days=5))[0]
    _set(late, status=Status.COMPLETED, at=NOW + timedelta(minutes=5))
    assert metrics_for_scope(scope)["orders"] != _live(monkeypatch, scope)
    rollups.roll_finished_days(now=NOW + timedelta(minutes=35))
    assert metrics_for_scope(scope)["orders"] == _live(monkeypatch, scope)


@pytest.mark.django_db
def test_rolling_again_changes_nothing(world, monkeypatch, operator):
    rollups.roll_finished_days(now=NOW)
    first = _day_rows()
    rollups.roll_finished_days(now=NOW)
    assert _day_rows() == first
    rollups.roll(UNTIL, NOW.date() - timedelta(days=30))
    assert _day_rows() == first
    # After changes, a run and a run again give the same rows, equal to rolling all history at once.
    for order in ServiceOrder.objects.filter(status=Status.ACTIVE, created_at__lt=UNTIL):
        _finish(world, order, order.created_at, UNTIL)
    later = NOW + timedelta(hours=1)
    rollups.roll_finished_days(now=later)
    again = _day_rows()
    rollups.roll_finished_days(now=later)
    assert _day_rows() == again != first
    DayFigure.objects.all().delete()
    rollups.roll(later - timedelta(minutes=10))
    assert _day_rows() == again
    scope = metrics_scope(user=operator)
    assert metrics_for_scope(scope)["orders"] == _live(monkeypatch, scope)


@pytest.mark.django_db
def test_the_orders_figure_costs_a_fixed_number_of_statements(world, operator, store_manager, store, consumer):
    rollups.roll_finished_days(now=NOW)

    def statements(user, **window):
        scope = metrics_scope(user=user, **window)
        figures = rollups.window_figures(scope, scoped_orders(scope))
        with CaptureQueriesContext(connection) as with_figures:
            order_counts.orders_summary(scope, scoped_orders(scope), figures)
        with CaptureQueriesContext(connection) as alone:
            orders_summary(scope)
        return len(with_figures), len(alone)

    windows = [{}, {"date_to": NOW}, {"date_from": NOW - timedelta(days=9, hours=5), "date_to": UNTIL}]
    counts = {statements(user, **w) for user in (operator, store_manager) for w in windows}
    # More orders, finished after the roll-up too: the same statements.
    for order in _clone(ServiceOrder.objects.filter(store=store).first(), 40):
        _set(order, created=NOW - timedelta(days=3), status=Status.COMPLETED, at=NOW - timedelta(minutes=1))
    counts |= {statements(user, **w) for user in (operator, store_manager) for w in windows}
    # With the other figures: one statement over the orders; alone: the roll-up's moment, its days, the orders
    # (a store manager's scope reads the manager's stores first).
    assert max(w for w, _a in counts) == 1
    assert max(a for _w, a in counts) <= 4
