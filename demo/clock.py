"""The clock the demo acts its orders' past on, so their finished stages took believable times.

The demo builds each order through the real services. Run at one instant, every finished stage would have taken no
time at all ("0 min" on the dashboard and in the metrics). So the steps an order went through before its current
stage are run on a simulated clock: `django.utils.timezone.now` returns an instant in the store's past working days
that the demo moves forward between steps (a payment 90 minutes later, a design two working days later, a visit at
its booked window). Everything the services stamp, the hash-chained event log included, is then written as it
would have been at that time; nothing is edited afterwards, so `verify_event_chain` holds.

Only for the demo command and its tests: the patch is process-wide while a step runs, never in a serving process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from unittest import mock

from django.utils import timezone

_real_now = timezone.now
SETTLE = timedelta(minutes=60)  # a step that would fall outside opening hours happens this long after opening


class HistoryClock:
    """A simulated instant in a store's past working hours, moved forward by the demo between steps. It never
    passes the real now (a step that would is run at the real now instead)."""

    def __init__(self, store, *, working_days_ago: int, at: time = time(9, 30)):
        self.store = store
        day = timezone.localtime(_real_now(), store.tzinfo).date()
        for _ in range(working_days_ago):
            day = self._working_day(day - timedelta(days=1), step=-1)
        self._set(datetime.combine(day, at, tzinfo=store.tzinfo))

    def _working_day(self, day, *, step: int = 1):
        while day.weekday() not in self.store.working_days:
            day += timedelta(days=step)
        return day

    def _set(self, instant: datetime) -> None:
        real = _real_now()  # in UTC, as timezone.now() is (the event hash covers the instant's isoformat)
        self._at, self._since = min(instant.astimezone(UTC), real), real

    def now(self) -> datetime:
        """The simulated instant, ticking on with the real clock (events of one step keep their order)."""
        return self._at + (_real_now() - self._since)

    def advance(self, *, minutes: int = 0, working_days: int = 0) -> None:
        """`minutes` later, then `working_days` working days later at the same hour; outside the store's opening
        hours (or in its last half hour) it is the next working day, an hour after opening."""
        store = self.store
        local = timezone.localtime(self.now(), store.tzinfo) + timedelta(minutes=minutes)
        for _ in range(working_days):
            local = datetime.combine(self._working_day(local.date() + timedelta(days=1)), local.timetz())
        closing = datetime.combine(local.date(), store.closes_at, tzinfo=local.tzinfo) - timedelta(minutes=30)
        if local.weekday() not in store.working_days or local > closing:
            local = datetime.combine(self._working_day(local.date() + timedelta(days=1)), store.opens_at,
                                     tzinfo=local.tzinfo) + SETTLE
        elif local.time() < store.opens_at:
            local = datetime.combine(local.date(), store.opens_at, tzinfo=local.tzinfo) + SETTLE
        self._set(local)

    def reach(self, instant: datetime) -> bool:
        """Move on to `instant` (a booked visit's time); when that is not yet past, to the real now (False)."""
        self._set(max(instant, self.now()))
        return instant <= _real_now()

    @contextmanager
    def applied(self) -> Iterator[None]:
        """While inside, `timezone.now()` is this clock (for every module calling it through `timezone`)."""
        with mock.patch.object(timezone, "now", self.now):
            yield
