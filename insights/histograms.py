"""Approximate stage-duration percentiles (p50/p90) from per-day histograms with fixed log-spaced buckets
(ADR 0007).

Buckets: bucket k >= 0 holds the durations in [RATIO^k, RATIO^(k+1)) seconds (RATIO = 1.05: each bucket 5 % wide),
bucket -1 those under a second. Every duration counts as its bucket's geometric middle (RATIO^(k + 1/2); 0 for bucket
-1), and the percentile is then interpolated between neighbouring ranks as `percentile_cont` interpolates between
rows. A duration x of bucket k is within a factor sqrt(RATIO) of that middle, so each rank's value is off by at most
sqrt(1.05) - 1 = 2.47 % of the true value, and so is any interpolation between two of them: **p50/p90 are within
2.5 % of the exact percentile_cont** (within 1 s when the durations involved are under a second), before both are
rounded to 0.1 s.

- `roll_histograms(since, until)` runs inside the roll-up's transaction (insights.rollups.roll): it replaces the
  `DayHistogram` rows (one per day, merchant, store and stage code, holding that day's {bucket: count} and the
  running total of every day up to it) of the days it rolls, from one grouped query (day, merchant, store, stage
  code, bucket), the running totals continuing from the latest row before them; a row's size is bounded by the
  number of buckets, not by the number of orders.
- `window_percentiles(scope, orders)` is what a request reads: the window is split as insights.rollups'
  `window_figures` splits it; the rolled days' histogram per merchant, store and stage code is the running total on
  the window's last rolled day less the one before its first (two queries: the latest days, then those rows, however
  many days the window spans), and the live rest is binned into the same buckets by one grouped query per live
  range; then the buckets are added up per stage code. With a technician filter or a time zone other than the
  site's the whole window is live, and binned the same way (so the figure means the same thing, with the same
  bound, whatever the filters).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Count, Exists, F, Func, IntegerField, Max, OuterRef, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from insights import rollups
from insights.models import DayHistogram
from tenancy.scoping import visible_to
from workflows.models import Appointment, ServiceOrder, StageInstance

RATIO = 1.05
BOUND = 0.025  # the stated relative error of p50/p90 (sqrt(RATIO) - 1 = 0.0247, rounded up)
PERCENTILES = (0.5, 0.9)
_LN = repr(math.log(RATIO))


class Bucket(Func):
    """The log-spaced bucket of a duration (an interval on PostgreSQL, microseconds on SQLite): -1 under a second."""

    template = f"FLOOR(LN(GREATEST(EXTRACT(EPOCH FROM %(expressions)s), 0.99)) / {_LN})::integer"
    output_field = IntegerField()

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, **extra,
                              template=f"CAST(FLOOR(LN(MAX(%(expressions)s / 1000000.0, 0.99)) / {_LN}) AS INTEGER)")


def bucket(seconds: float) -> int:
    """The bucket of a duration in seconds, as `Bucket` computes it in the database."""
    return math.floor(math.log(max(seconds, 0.99)) / math.log(RATIO))


def middle(bucket: int) -> float:
    """The value every duration of `bucket` counts as: the bucket's geometric middle (0 under a second)."""
    return 0.0 if bucket < 0 else RATIO ** (bucket + 0.5)


def done_stages(orders, start: datetime | None, end: datetime | None, technician=None):
    """The done stages of `orders` (a queryset) completed in [start, end), with a visit of `technician` if given."""
    qs = StageInstance.objects.filter(order__in=orders.values("pk"), state=StageInstance.State.DONE,
                                      entered_at__isnull=False, completed_at__isnull=False)
    if start is not None:
        qs = qs.filter(completed_at__gte=start)
    if end is not None:
        qs = qs.filter(completed_at__lt=end)
    if technician is not None:
        qs = qs.filter(Exists(Appointment.objects.filter(stage=OuterRef("pk"), technician=technician)))
    return qs


def _binned(qs, **group):
    return qs.values(**group, code=F("definition__code"), b=Bucket(rollups.DURATION)).order_by().annotate(
        n=Count("pk"))


def _latest(qs, *bounds: date) -> list[dict]:
    """For each bound, {(merchant, store, code): cumulative counts} of the latest row on or before it of each
    (merchant, store, stage code) of `qs` (two queries, whatever the number of days)."""
    groups = list(qs.values("merchant", "store", "code").order_by().annotate(
        **{f"d{i}": Max("day", filter=Q(day__lte=bound)) for i, bound in enumerate(bounds)}))
    wanted = [{(g["merchant"], g["store"], g["code"]): g[f"d{i}"] for g in groups if g[f"d{i}"]}
              for i in range(len(bounds))]
    days = {d for w in wanted for d in w.values()}
    found = [{} for _ in bounds]
    if days:
        for m, st, code, day, cumulative in qs.filter(
                day__in=days, store__in={g["store"] for g in groups}).values_list(
                "merchant", "store", "code", "day", "cumulative"):
            for i, w in enumerate(wanted):
                if w.get((m, st, code)) == day:
                    found[i][(m, st, code)] = cumulative
    return found


def roll_histograms(since: date | None, until: datetime) -> int:
    """Replace the histograms of the days from `since` (None: from the beginning) to until's day with the stages done
    before `until` (called by insights.rollups.roll, in its transaction), each row's cumulative counts continuing
    from the latest row before `since`. Returns the number of rows."""
    base = _latest(DayHistogram.objects.all(), since - timedelta(days=1))[0] if since is not None else {}
    old = DayHistogram.objects.filter(day__lte=rollups._local_day(until))
    if since is not None:
        old = old.filter(day__gte=since)
    old.delete()
    qs = done_stages(ServiceOrder.objects.all(), rollups.day_start(since) if since else None, until)
    rows: dict[tuple, dict] = defaultdict(dict)
    tz = timezone.get_default_timezone()
    for r in _binned(qs, d=TruncDate("completed_at", tzinfo=tz), m=F("order__merchant_id"), s=F("order__store_id")):
        rows[(r["d"], r["m"], r["s"], r["code"])][str(r["b"])] = r["n"]
    made = []
    running = {group: Counter(counts) for group, counts in base.items()}
    for (d, m, s, code), counts in sorted(rows.items()):
        total = running.setdefault((m, s, code), Counter())
        total.update(counts)
        made.append(DayHistogram(day=d, merchant_id=m, store_id=s, code=code, counts=counts, cumulative=dict(total)))
    DayHistogram.objects.bulk_create(made, batch_size=2000)
    return len(made)


def _rolled(scope, days) -> dict[str, Counter]:
    """The rolled days' histograms of the scope per stage code: the cumulative counts on the window's last rolled day
    less those before its first, per merchant, store and stage code (three queries, whatever the number of days)."""
    qs = visible_to(DayHistogram.objects.all(), scope.user)
    if scope.merchant is not None:
        qs = qs.filter(merchant=scope.merchant)
    if scope.store is not None:
        qs = qs.filter(store=scope.store)
    first, last = days
    upto, before = _latest(qs, last, first - timedelta(days=1)) if first is not None else (_latest(qs, last)[0], {})
    merged: dict[str, Counter] = defaultdict(Counter)
    for group, cumulative in upto.items():
        merged[group[2]].update({int(b): n for b, n in cumulative.items()})
        merged[group[2]].subtract({int(b): n for b, n in before.get(group, {}).items()})
    return merged


def window_histograms(scope, orders) -> dict[str, Counter]:
    """{stage code: {bucket: count}} of the scope's window over `orders` (= the scope's visible orders)."""
    if scope.technician is not None or timezone.get_current_timezone_name() != settings.TIME_ZONE:
        days, live = None, [(scope.start, scope.end)]
    else:
        days, live = rollups._split(scope.start, scope.end, rollups.rolled_until())
    merged = _rolled(scope, days) if days is not None else defaultdict(Counter)
    for start, end in live:
        for r in _binned(done_stages(orders, start, end, scope.technician)):
            merged[r["code"]][r["b"]] += r["n"]
    return merged


def percentiles(histogram: dict[int, int]) -> dict[float, float | None]:
    """p50/p90 of a histogram, interpolated between neighbouring ranks as percentile_cont does, each rank at its
    bucket's middle; None for an empty histogram."""
    n = sum(histogram.values())
    if not n:
        return {p: None for p in PERCENTILES}
    buckets = sorted(b for b, c in histogram.items() if c)

    def at(rank: int) -> float:  # the value of the rank-th smallest duration (0-based)
        seen = 0
        for b in buckets:
            seen += histogram[b]
            if rank < seen:
                return middle(b)
        return middle(buckets[-1])

    out = {}
    for p in PERCENTILES:
        pos = p * (n - 1)
        lo = math.floor(pos)
        lo_v, hi_v = at(lo), at(min(lo + 1, n - 1))
        out[p] = round(lo_v + (hi_v - lo_v) * (pos - lo), 1)
    return out


def window_percentiles(scope, orders) -> dict[str, dict[float, float | None]]:
    """{stage code: {0.5: p50 seconds, 0.9: p90 seconds}} of the scope's window, approximate within BOUND."""
    return {code: percentiles(h) for code, h in window_histograms(scope, orders).items() if sum(h.values())}
