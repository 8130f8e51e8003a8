"""A store's capacity for visits (issue 21, point 2): how many visits needing one skill it takes per day
(tenancy.StoreCapacity, none: no limit), and the travel buffer each technician keeps between two visits
(Store.travel_buffer_minutes).

What is counted: the store's visits of that day (the store's time zone, by the window's start) of stages that
require the skill, in any state but cancelled (a visit done, under way or missed has had its place). Nothing is
kept in a counter: a booking or a move locks the store's capacity row for the skill (select_for_update) and then
counts, so two bookings of the day's last place are served one after the other and the second sees the first's
visit (on PostgreSQL; SQLite runs one write at a time anyway). Cancelling a visit, or its order, frees its place
at once."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta

from django.utils.translation import gettext as _

from core.errors import Conflict
from tenancy.models import Store, StoreCapacity
from workflows.models import Appointment


def travel_buffer(store: Store) -> timedelta:
    return timedelta(minutes=store.travel_buffer_minutes or 0)


def daily_capacity(store: Store, skill: str, *, lock: bool = False) -> int | None:
    """Visits needing `skill` the store takes per day; None when unlimited (no skill, or no capacity set). With
    `lock`, the capacity row stays locked until the caller commits: hold it while counting and booking."""
    if not skill:
        return None
    rows = StoreCapacity.objects.filter(store=store, skill=skill)
    if lock:
        rows = rows.select_for_update()
    return rows.values_list("visits_per_day", flat=True).first()


def _day_bounds(store: Store, day: date) -> tuple[datetime, datetime]:
    tz = store.tzinfo
    return datetime.combine(day, time.min, tzinfo=tz), datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)


def _counted(store: Store, skill: str):
    return Appointment.objects.filter(store=store, stage__definition__required_skill=skill).exclude(
        state=Appointment.State.CANCELLED
    )


def day_loads(store: Store, skill: str, first_day: date, last_day: date, *, not_stage: int | None = None) -> Counter:
    """Visits needing `skill` per store day from `first_day` to `last_day`, in one query. `not_stage`: leave that
    stage's booked visit out (the one a move would replace)."""
    start, _end = _day_bounds(store, first_day)
    _start, end = _day_bounds(store, last_day)
    rows = _counted(store, skill).filter(window_start__gte=start, window_start__lt=end)
    if not_stage:
        rows = rows.exclude(stage_id=not_stage, state=Appointment.State.BOOKED)
    tz = store.tzinfo
    return Counter(s.astimezone(tz).date() for s in rows.values_list("window_start", flat=True))


def capacity_claim(*, store: Store, skill: str, window_start: datetime, moving: int | None = None) -> None:
    """Check that the store has a place left on the window's day for one more visit needing `skill`, and keep the
    capacity row locked until the caller commits (it then creates the visit). `moving`: the visit being moved,
    whose place is given back. Conflict `capacity_full` when the day is full."""
    limit = daily_capacity(store, skill, lock=True)
    if limit is None:
        return
    day = window_start.astimezone(store.tzinfo).date()
    start, end = _day_bounds(store, day)
    rows = _counted(store, skill).filter(window_start__gte=start, window_start__lt=end)
    if moving:
        rows = rows.exclude(pk=moving)
    if rows.count() >= limit:
        raise Conflict(
            _("The store is fully booked for this kind of visit on %(day)s; pick another day.")
            % {"day": day.isoformat()},
            code="capacity_full", day=day.isoformat(), skill=skill,
        )
