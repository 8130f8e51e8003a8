"""The metrics' orders figure (the orders created in the window, counted by their status now) from per-day roll-ups,
so a request reads days, not every order of the window.

An order's status moves once, from active to completed (`completed_at` set) or to cancelled (`cancelled_at` set), in
the engine's transaction (workflows.engine; the final states have no way out). So the roll-up keeps, per creation
day (site time zone), merchant and store, in `DayFigure` (figure "orders"): the orders created, and of them those
completed and those cancelled *as of* the roll-up's moment `rolled_until` (finished before it); active is the rest.

- The job (`roll_orders`, called by `insights.rollups.roll` in its transaction) rolls the creation days it rolls
  anyway (the recent ones), and recounts the older creation days, store by store, of the orders that finished since
  the previous run's `rolled_until` (less INSIGHTS_ROLLUP_MARGIN_MINUTES, for a transaction committed late),
  replacing their rows: an order created months ago and completed today moves its creation day's figures at the
  next run. A recount (not an increment) is idempotent and mends a late commit within the margin.
- A request (`orders_summary`) takes the rolled creation days inside the window (read with the other figures by
  insights.rollups.window_figures, or by one grouped query of its own), and in one statement over the orders adds
  the orders of those days that finished at or after `rolled_until` (the partial indexes on `completed_at` and
  `cancelled_at`, migration insights 0009, keep that read to the orders finished since) and the rest of the window
  (the orders created after `rolled_until`, a partial first or last day) by their status now: one statement with
  the other figures, three alone, whatever the number of orders. A technician filter or another time zone than the
  site's: all live, as the other figures.
"""

from __future__ import annotations

import operator
from datetime import date, datetime, timedelta
from functools import reduce

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from insights.conf import setting
from insights.models import DayFigure
from insights.rollups import Rows, _add, _period, day_start, rolled_days, window_split
from workflows.models import ServiceOrder

FIGURE = "orders"
Status = ServiceOrder.Status
# key -> (the status it counts, the moment the order reached it)
FINISHED = {"completed": (Status.COMPLETED, "completed_at"), "cancelled": (Status.CANCELLED, "cancelled_at")}


def _finished_since(moment: datetime) -> Q:
    """Orders that reached a final status at or after `moment`."""
    return Q(completed_at__gte=moment) | Q(cancelled_at__gte=moment)


def creation_rows(orders: QuerySet, start: datetime | None, end: datetime | None, *, as_of: datetime,
                  rows: Rows) -> Rows:
    """The orders of `orders` created in [start, end), grouped by creation day (site time zone), merchant and store:
    created, and completed / cancelled before `as_of` (an order that finished later counts as active)."""
    finished = {key: Q(status=status) & ~Q(**{f"{field}__gte": as_of}) for key, (status, field) in FINISHED.items()}
    grouped = (orders.filter(_period("created_at", start, end))
               .values(d=TruncDate("created_at", tzinfo=timezone.get_default_timezone()), m=F("merchant_id"),
                       s=F("store_id"))
               .order_by().annotate(created=Count("pk"), **{k: Count("pk", filter=q) for k, q in finished.items()}))
    for r in grouped:
        for key in ("created", *FINISHED):
            if r[key]:
                _add(rows, (r["d"], r["m"], r["s"], FIGURE, key), r[key])
    return rows


def changed_groups(since: datetime, before: datetime) -> list[tuple[date, int]]:
    """The (creation day in the site's time zone, store) of the orders created before `before` that finished at or
    after `since`."""
    return sorted(ServiceOrder.objects.filter(_finished_since(since), created_at__lt=before)
                  .annotate(d=TruncDate("created_at", tzinfo=timezone.get_default_timezone()))
                  .order_by().values_list("d", "store_id").distinct())


def roll_orders(rows: Rows, since: date | None, until: datetime, previous: datetime | None) -> list:
    """In insights.rollups.roll's transaction (which replaces the rows of the days from `since` with `rows`): add the
    orders created from `since` to `until`, and recount the earlier creation days, store by store, of the orders
    that finished since the `previous` run (less the margin), replacing their rows. Returns the (day, store) pairs
    recounted: about one per order finished since, each read through the (store, created_at) index."""
    creation_rows(ServiceOrder.objects.all(), day_start(since) if since else None, until, as_of=until, rows=rows)
    if since is None or previous is None:
        return []
    margin = timedelta(minutes=setting("INSIGHTS_ROLLUP_MARGIN_MINUTES"))
    groups = changed_groups(previous - margin, day_start(since))
    if groups:
        DayFigure.objects.filter(reduce(operator.or_, (Q(day=day, store_id=store) for day, store in groups)),
                                 figure=FIGURE).delete()
        created = reduce(operator.or_, (Q(store_id=store, created_at__gte=day_start(day),
                                          created_at__lt=day_start(day + timedelta(days=1))) for day, store in groups))
        creation_rows(ServiceOrder.objects.filter(created), None, None, as_of=until, rows=rows)
    return groups


def _either(*parts: Q | None) -> Q | None:
    """The OR of the filters given (None: nothing)."""
    given = [q for q in parts if q is not None]
    return reduce(operator.or_, given) if given else None


def _live_and_late(orders: QuerySet, until: datetime | None, days, live) -> dict:
    """One statement: the orders created in the `live` ranges by their status now, and the orders of the rolled
    creation `days` (first or None, last; before `until`) that finished at or after `until` (counted active there)."""
    ranges = [_period("created_at", start, end) for start, end in live]
    fresh = None if not ranges else Q() if not all(ranges) else reduce(operator.or_, ranges)  # Q(): all history
    late = dict.fromkeys(FINISHED)
    if days is not None:  # then every live range is bounded (`_split`), so `fresh` is not Q()
        rolled = _period("created_at", day_start(days[0]) if days[0] else None,
                         min(until, day_start(days[1] + timedelta(days=1))))
        late = {key: rolled & Q(**{f"{field}__gte": until}) for key, (_status, field) in FINISHED.items()}
    where = _either(fresh, *late.values())
    if where is None:
        return {}
    counted = {"created": fresh}
    for key, (status, _field) in FINISHED.items():
        counted[key] = None if (these := _either(fresh, late[key])) is None else Q(status=status) & these
    return orders.filter(where).aggregate(**{k: Count("pk", filter=q or None)  # Q(): every row
                                             for k, q in counted.items() if q is not None})


def orders_summary(scope, orders: QuerySet, figures=None) -> dict:
    """The orders of `orders` (the scope's visible orders) created in the scope's window, by their status now: the
    rolled creation days (from `figures`, insights.rollups.window_figures' result, when given: it read them with the
    other figures), corrected by the orders finished since the roll-up, and the rest of the window live."""
    counts = dict.fromkeys(("created", *FINISHED), 0)
    if figures is not None:
        until, days, live = figures.split
        if days is not None:
            counts = {key: figures.count(FIGURE, key) for key in counts}
    else:
        until, days, live = window_split(scope)
        if days is not None:
            rolled = rolled_days(scope, days).filter(figure=FIGURE)
            for r in rolled.values("key").order_by().annotate(n=Sum("count")):
                counts[r["key"]] += r["n"]
    for key, n in _live_and_late(orders, until, days, live).items():
        counts[key] += n
    return {"created": counts["created"], "active": counts["created"] - counts["completed"] - counts["cancelled"],
            "completed": counts["completed"], "cancelled": counts["cancelled"]}
