"""Per-day roll-ups of the platform figures, so the metrics and the dashboard read days, not every row.

A figure is made of additive components (counts, sums of seconds or metres as exact Decimals), grouped by day (in
the site's time zone, settings.TIME_ZONE), merchant and store: check-ins (total, on time, early, outside the radius,
low accuracy, flagged, and the distances' count and sum), done stages per stage code (count and sum of durations,
sum of waiting seconds), rework (approval stages, reworked, rounds), SLA breaches per kind. Averages and rates are
computed from the sums, so summing days gives exactly what summing rows gives.

- `roll_finished_days()` (Celery beat, `insights.tasks.roll_up_days`, every 15 minutes) writes the components of
  every fact older than INSIGHTS_ROLLUP_MARGIN_MINUTES (10) into `DayFigure` (all history the first time, then
  only the recent days) and records that moment in `RollupState.rolled_until`: whole days before its day, and its
  day up to that moment (today's rows are replaced at every run). Re-running a day replaces its rows, and every run
  rolls the last rolled day and the INSIGHTS_ROLLUP_REDO_DAYS (2) days before it again, for a fact committed late (a
  transaction that began before the margin). Every fact rolled here is dated when it is written (an event's, a
  breach's, a stage completion's time is the time of its transaction), so nothing arrives for an older day.
- `window_figures(scope, orders)` is what a request reads: the rolled days entirely inside the window from
  `DayFigure` (and today's rolled part, when the window runs to now), and the rest of the window (the last minutes,
  the partial first and last days of a date-time window) from the live rows, with the same grouped queries the
  roll-up runs. With a technician filter, or a time zone other than the one days were rolled in, the whole window
  is read live.

The orders by status (created in the window, counted by their status now) are rolled per creation day by
insights.order_counts, and the duration percentiles as per-day histograms by insights.histograms, both called from
`roll()` in the same transaction. Other apps' figures add their own components (workflows.hooks.
register_order_figure's `day_rows`: payments' ledger sums per currency), kept under the figure's name, and the job
runs their `job` after the days (payments' snapshot of what is owed now).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count, DecimalField, DurationField, Exists, ExpressionWrapper, F, Func, OuterRef, Q, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import TruncDate
from django.utils import timezone

from insights.conf import setting
from insights.models import DayFigure, RollupState, SlaBreach
from tenancy.scoping import visible_to
from workflows import hooks
from workflows.models import Appointment, OrderEvent, ServiceOrder, StageInstance

# (day, merchant id, store id, figure, key) -> [count, total]
Rows = dict[tuple[date, int, int, str, str], list]
DURATION = ExpressionWrapper(F("completed_at") - F("entered_at"), output_field=DurationField())


class _Numeric(Func):
    """A JSON number as an exact numeric (PostgreSQL: the text of the number, every digit kept; SQLite: a REAL)."""

    template = "(%(expressions)s)::numeric"
    output_field = DecimalField()

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template="CAST(%(expressions)s AS REAL)", **extra)


DISTANCE = _Numeric(KT("payload__distance_m"))
CHECKIN_FLAGS = {
    "on_time": Q(payload__on_time=True), "early": Q(payload__early=True),
    "outside_radius": Q(payload__outside_radius=True), "low_accuracy": Q(payload__low_accuracy=True),
    "flagged": Q(payload__outside_radius=True) | Q(payload__low_accuracy=True),
}


def _seconds(value) -> Decimal:
    """A sum of durations as exact seconds (PostgreSQL: an interval; SQLite: microseconds)."""
    if value is None:
        return Decimal(0)
    if isinstance(value, timedelta):
        return Decimal(value.days * 86400 + value.seconds) + Decimal(value.microseconds) / 1_000_000
    return Decimal(int(value)) / 1_000_000


def _add(rows: Rows, key: tuple, count: int, total=None) -> None:
    slot = rows.setdefault(key, [0, None])
    slot[0] += count or 0
    if total is not None:
        slot[1] = (slot[1] or Decimal(0)) + Decimal(total)


def _period(field: str, start: datetime | None, end: datetime | None) -> Q:
    q = Q()
    if start is not None:
        q &= Q(**{f"{field}__gte": start})
    if end is not None:
        q &= Q(**{f"{field}__lt": end})
    return q


def live_rows(orders, start: datetime | None, end: datetime | None, *, technician=None, tz=None,
              rows: Rows | None = None) -> Rows:
    """The components of [start, end) over `orders` (a queryset), grouped by day (in `tz`), merchant and store."""
    rows = {} if rows is None else rows
    tz = tz or timezone.get_default_timezone()
    ids = orders.values("pk")

    # The check-ins, and the duplicate photos refused (an anomaly too), in one grouped query.
    checkins = OrderEvent.objects.filter(kind__in=("job.checked_in", "job.evidence_refused"), order__in=ids).filter(
        _period("created_at", start, end))
    if technician is not None:
        checkins = checkins.filter(actor=technician)
    for r in (checkins.values(d=TruncDate("created_at", tzinfo=tz), m=F("order__merchant_id"), s=F("order__store_id"),
                              k=F("kind"))
              .order_by().annotate(total=Count("pk"), dist_n=Count(DISTANCE), dist=Sum(DISTANCE),
                                   **{k: Count("pk", filter=q) for k, q in CHECKIN_FLAGS.items()})):
        if r["k"] == "job.evidence_refused":
            _add(rows, (r["d"], r["m"], r["s"], "evidence", "duplicate_refused"), r["total"])
            continue
        at = (r["d"], r["m"], r["s"], "checkins")
        _add(rows, (*at, "total"), r["total"])
        for k in CHECKIN_FLAGS:
            _add(rows, (*at, k), r[k])
        _add(rows, (*at, "distance"), r["dist_n"], r["dist"])

    stages = StageInstance.objects.filter(order__in=ids, state=StageInstance.State.DONE, entered_at__isnull=False,
                                          completed_at__isnull=False).filter(_period("completed_at", start, end))
    if technician is not None:
        stages = stages.filter(Exists(Appointment.objects.filter(stage=OuterRef("pk"), technician=technician)))
    approval = Q(definition__requires_approval=True)
    for r in (stages.values(d=TruncDate("completed_at", tzinfo=tz), m=F("order__merchant_id"),
                            s=F("order__store_id"), code=F("definition__code"))
              .order_by().annotate(n=Count("pk"), dur=Sum(DURATION), wait=Sum("waiting_seconds"),
                                   appr=Count("pk", filter=approval),
                                   reworked=Count("pk", filter=approval & Q(rework_rounds__gt=0)),
                                   rounds=Sum("rework_rounds", filter=approval))):
        at = (r["d"], r["m"], r["s"])
        _add(rows, (*at, "stages", r["code"]), r["n"], _seconds(r["dur"]))
        _add(rows, (*at, "waiting", r["code"]), r["n"], r["wait"] or 0)
        _add(rows, (*at, "rework", "approval_stages"), r["appr"])
        _add(rows, (*at, "rework", "reworked"), r["reworked"])
        _add(rows, (*at, "rework", "rounds"), r["rounds"] or 0)

    breaches = SlaBreach.objects.filter(order__in=ids).filter(_period("detected_at", start, end))
    for r in (breaches.values(d=TruncDate("detected_at", tzinfo=tz), m=F("merchant_id"), s=F("store_id"),
                              k=F("kind")).order_by().annotate(n=Count("pk"))):
        _add(rows, (r["d"], r["m"], r["s"], "breaches", r["k"]), r["n"])
    # Other apps' components (workflows.hooks.register_order_figure's day_rows: payments' ledger sums), by the
    # figure's name.
    for name, rollup in hooks.figure_rollups().items():
        for d, m, s, key, count, total in (rollup.day_rows(ids, start, end, tz) if rollup.day_rows else ()):
            _add(rows, (d, m, s, name, key), count, total)
    return rows


def day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


def rolled_until() -> datetime | None:
    state = RollupState.objects.first()
    return state.rolled_until if state else None


def _local_day(moment: datetime) -> date:
    return timezone.localtime(moment, timezone.get_default_timezone()).date()


def _split(start: datetime | None, end: datetime | None, until: datetime | None):
    """What of [start, end) the roll-up holds, as the days to read (first or None for the beginning, last,
    inclusive), and the live ranges around them; or (None, [(start, end)]) when no rolled day fits. The roll-up holds
    every fact before `until`: whole days before until's day, and that day's facts up to `until`."""
    if until is None:
        return None, [(start, end)]
    lo = None
    if start is not None:
        lo = _local_day(start)
        if day_start(lo) < start:
            lo += timedelta(days=1)
    last_day = _local_day(until)
    if end is None or end >= until:
        stop = until  # the roll-up's partial last day is inside the window
    else:
        last_day = min(last_day, _local_day(end)) - timedelta(days=1)  # whole days before `end`
        stop = day_start(last_day + timedelta(days=1))
    if lo is not None and (lo > last_day or day_start(lo) >= stop):
        return None, [(start, end)]
    live = []
    if lo is not None and start < day_start(lo):
        live.append((start, day_start(lo)))
    if end is None or stop < end:
        live.append((stop, end))
    return (lo, last_day), live


def window_split(scope) -> tuple:
    """The roll-up's moment (None: read all live, for a technician filter or a time zone other than the site's),
    and the scope's window split by `_split`: (until, rolled days, live ranges)."""
    live_only = scope.technician is not None or timezone.get_current_timezone_name() != settings.TIME_ZONE
    until = None if live_only else rolled_until()
    return (until, *_split(scope.start, scope.end, until))


def rolled_days(scope, days: tuple):
    """The DayFigure rows of the rolled `days` (first or None, last) that the scope's user sees, in its filters."""
    qs = visible_to(DayFigure.objects.all(), scope.user).filter(day__lte=days[1])
    if days[0] is not None:
        qs = qs.filter(day__gte=days[0])
    if scope.merchant is not None:
        qs = qs.filter(merchant=scope.merchant)
    if scope.store is not None:
        qs = qs.filter(store=scope.store)
    return qs


@dataclass
class Figures:
    """A window's components summed three ways: in all (`totals`), per day (the check-ins' total and on-time counts,
    for the day list) and per store (the breaches): {(figure, key): [count, total]} each."""

    totals: dict = field(default_factory=dict)
    by_day: dict = field(default_factory=lambda: defaultdict(dict))
    by_store: dict = field(default_factory=lambda: defaultdict(dict))
    # How the window was split: the roll-up's moment (None: all live), the rolled days read and the live ranges.
    split: tuple | None = None

    def count(self, figure: str, key: str) -> int:
        return self.totals.get((figure, key), [0])[0]

    def of(self, figure: str) -> dict:
        """One figure's components in all: {key: [count, total]}."""
        return {key: v for (f, key), v in self.totals.items() if f == figure}

    def add(self, day, store, figure: str, key: str, count: int, total=None) -> None:
        if day is not None or store is not None:  # a full row: every view that keeps it
            self.add(None, None, figure, key, count, total)
            if day is not None and figure == "checkins" and key in BY_DAY:
                _add(self.by_day[day], (figure, key), count)
            if store is not None and figure == "breaches":
                _add(self.by_store[store], (figure, key), count)
            return
        _add(self.totals, (figure, key), count, total)


BY_DAY = ("total", "on_time")


def window_figures(scope, orders) -> Figures:
    """The components of the scope's window over `orders` (= the scope's visible orders): rolled days from
    DayFigure (three grouped queries, whatever the number of orders), the rest from the live rows."""
    tz = timezone.get_current_timezone()
    figures = Figures()
    figures.split = _until, days, live = window_split(scope)
    if days is not None:
        qs = rolled_days(scope, days)
        summed = {"c": Sum("count"), "t": Sum("total")}
        for r in qs.values("figure", "key").order_by().annotate(**summed):
            figures.add(None, None, r["figure"], r["key"], r["c"], r["t"])
        for r in qs.filter(figure="checkins", key__in=BY_DAY).values("day", "key").order_by().annotate(**summed):
            _add(figures.by_day[r["day"]], ("checkins", r["key"]), r["c"])
        for r in qs.filter(figure="breaches").values("store_id", "key").order_by().annotate(**summed):
            _add(figures.by_store[r["store_id"]], ("breaches", r["key"]), r["c"])
    for start, end in live:
        rows = live_rows(orders, start, end, technician=scope.technician, tz=tz)
        for (d, _m, s, figure, key), (count, total) in rows.items():
            figures.add(d, s, figure, key, count, total)
    return figures


def roll(until: datetime, since: date | None = None) -> int:
    """Replace the components of the days from `since` (None: from the beginning) to until's day, with the facts
    before `until`, and record that the roll-up holds everything before `until`. Returns the number of rows."""
    with transaction.atomic():
        state = RollupState.objects.select_for_update().first()
        if state is None:
            since = None
        elif since is not None:
            since = min(since, _local_day(state.rolled_until))  # never leave a gap
        old = DayFigure.objects.filter(day__lte=_local_day(until))
        if since is not None:
            old = old.filter(day__gte=since)
        old.delete()
        rows = live_rows(ServiceOrder.objects.all(), day_start(since) if since else None, until)
        from insights import order_counts  # builds on this module: the orders by status per creation day

        order_counts.roll_orders(rows, since, until, state.rolled_until if state else None)
        DayFigure.objects.bulk_create(
            [DayFigure(day=d, merchant_id=m, store_id=s, figure=f, key=k, count=c, total=t)
             for (d, m, s, f, k), (c, t) in rows.items()], batch_size=2000)
        from insights.histograms import roll_histograms  # the duration percentiles' buckets (needs this module)
        roll_histograms(since, until)
        RollupState.objects.update_or_create(pk=state.pk if state else None,
                                             defaults={"rolled_until": until, "rolled_at": timezone.now()})
        return len(rows)


def roll_finished_days(now: datetime | None = None) -> int:
    """The periodic job: roll everything up to INSIGHTS_ROLLUP_MARGIN_MINUTES ago, the last rolled day and the
    INSIGHTS_ROLLUP_REDO_DAYS before it again."""
    until = (now or timezone.now()) - timedelta(minutes=setting("INSIGHTS_ROLLUP_MARGIN_MINUTES"))
    done = rolled_until()
    redo = timedelta(days=setting("INSIGHTS_ROLLUP_REDO_DAYS"))
    since = None if done is None else _local_day(min(done, until)) - redo
    written = roll(until, since)
    for rollup in hooks.figure_rollups().values():  # e.g. payments' snapshot of what is owed now
        if rollup.job is not None:
            rollup.job(now)
    return written
