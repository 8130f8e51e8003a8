"""Read side of the insights app: platform metrics and the dashboard's "at risk" list.

Every figure is computed over the caller's visible orders (tenancy.scoping). Arrivals, stage counts and averages,
rework and breaches are sums of additive components per day and store (insights.rollups): the finished days of the
window from the periodic roll-up, the rest of the window from the live rows, so the figures are exactly those of
summing the rows; so are the orders by status (insights.order_counts: per creation day, corrected by the orders
finished since the roll-up). The duration percentiles come from per-day histograms the same way
(insights.histograms). The figures other apps register are one database aggregate each over the live rows. Each
figure is dated by its own fact:

- arrivals (on-time rate, check-ins outside the radius): the "job.checked_in" event's time;
- stage durations and rework rounds: the stage's completion time (duration = completed_at - entered_at,
  i.e. the whole time the order spent in the stage; of its average, `avg_waiting_seconds` waited on the
  consumer (payment, approval: workflows' StageInstance.waiting_seconds) and `avg_work_seconds` the rest);
- SLA breaches: detection time;
- figures other apps register (workflows.hooks.register_order_figure; payments: money paid and refunded by
  the ledger entry's time, rolled up per day; outstanding as a snapshot taken by the roll-up job, at most 30
  minutes old, its time in `outstanding_as_of`), over the same orders and period.

Percentiles (p50/p90): approximate, within 2.5 % of the exact `percentile_cont`, interpolated from histograms of
the durations with fixed log-spaced buckets: the rolled days' histograms plus the live rest of the window binned
the same way (insights.histograms, ADR 0007).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import (
    Count,
    Exists,
    OuterRef,
    Q,
    QuerySet,
)
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import NotFound, PermissionDeniedError
from insights import histograms, order_counts, rollups
from insights.conf import setting
from insights.models import SlaBreach
from tenancy import policy
from tenancy.models import Merchant, Store, User
from tenancy.scoping import visible_to
from tenancy.tiers import tier_require
from workflows import hooks
from workflows.models import Appointment, ServiceOrder, StageInstance

Role = User.Role
PERCENTILES = histograms.PERCENTILES
S = StageInstance.State
OPEN_STAGE_STATES = (S.READY, S.SCHEDULED, S.IN_PROGRESS, S.AWAITING_APPROVAL, S.ESCALATED, S.WAITING_PAYMENT)


@dataclass(frozen=True)
class MetricsScope:
    user: User
    merchant: Merchant | None
    store: Store | None
    technician: User | None
    start: datetime | None
    end: datetime | None  # exclusive

    def period(self, field: str) -> Q:
        q = Q()
        if self.start is not None:
            q &= Q(**{f"{field}__gte": self.start})
        if self.end is not None:
            q &= Q(**{f"{field}__lt": self.end})
        return q


def metrics_access(user: User, capability: str = "metrics") -> None:
    """403 for roles that never see metrics, 403 tier_limit for merchants whose tier lacks them."""
    if not user.is_authenticated or not policy.may(user, "metrics.view"):
        raise PermissionDeniedError(_("Only platform operators, merchant admins and store managers see metrics."))
    if not user.is_operator:
        tier_require(user.merchant, capability)


def metrics_scope(*, user: User, merchant: int | None = None, store: int | None = None,
                  technician: int | None = None, date_from: datetime | None = None,
                  date_to: datetime | None = None, capability: str = "metrics") -> MetricsScope:
    """Check who may see metrics and resolve the filters. Foreign filters answer 404 (NotFound)."""
    metrics_access(user, capability)

    def resolve(qs: QuerySet, pk, label: str):
        if pk is None:
            return None
        obj = visible_to(qs, user).filter(pk=pk).first()
        if obj is None:
            raise NotFound(f"No such {label}.")
        return obj

    m = resolve(Merchant.objects.all(), merchant, "merchant")
    s = resolve(Store.objects.all(), store, "store")
    t = resolve(User.objects.filter(role=Role.TECHNICIAN), technician, "technician")
    return MetricsScope(user=user, merchant=m, store=s, technician=t, start=date_from, end=date_to)


def scoped_orders(scope: MetricsScope) -> QuerySet[ServiceOrder]:
    qs = visible_to(ServiceOrder.objects.all(), scope.user)
    if scope.merchant is not None:
        qs = qs.filter(merchant=scope.merchant)
    if scope.store is not None:
        qs = qs.filter(store=scope.store)
    if scope.technician is not None:
        qs = qs.filter(Exists(Appointment.objects.filter(order=OuterRef("pk"), technician=scope.technician)))
    return qs


def _order_ids(scope: MetricsScope):
    return scoped_orders(scope).values("pk")


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# --- arrivals ---------------------------------------------------------------------------------------
def _figures(scope: MetricsScope, figures: rollups.Figures | None) -> rollups.Figures:
    """The window's additive components: rolled days from the roll-up, the rest live (insights.rollups)."""
    return figures if figures is not None else rollups.window_figures(scope, scoped_orders(scope))


def arrival_metrics(scope: MetricsScope, figures: rollups.Figures | None = None) -> dict:
    f = _figures(scope, figures)

    def n(key: str) -> int:
        return f.count("checkins", key)
    total, on_time = n("total"), n("on_time")
    dist_n, dist_sum = f.totals.get(("checkins", "distance"), [0, None])
    return {
        "checkins": total, "on_time": on_time, "late": total - on_time, "on_time_rate": _rate(on_time, total),
        "early": n("early"), "early_rate": _rate(n("early"), total),
        "outside_radius": n("outside_radius"), "outside_radius_rate": _rate(n("outside_radius"), total),
        "low_accuracy": n("low_accuracy"), "flagged": n("flagged"),
        "duplicate_photos_refused": f.count("evidence", "duplicate_refused"),
        "avg_distance_m": round(float(dist_sum / dist_n), 1) if dist_n else None,
    }


def arrivals_by_day(scope: MetricsScope, figures: rollups.Figures | None = None) -> list[dict]:
    per_day = _figures(scope, figures).by_day
    out = []
    for day in sorted(per_day):
        total = per_day[day].get(("checkins", "total"), [0])[0]
        if total:
            on_time = per_day[day].get(("checkins", "on_time"), [0])[0]
            out.append({"date": day.isoformat(), "checkins": total, "on_time": on_time,
                        "on_time_rate": _rate(on_time, total)})
    return out


# --- stage durations -----------------------------------------------------------------------------
def _work_and_waiting(avg_seconds: float | None, waiting) -> dict:
    waiting_s = round(float(waiting), 1) if waiting is not None else None
    work_s = round(max(avg_seconds - waiting_s, 0.0), 1) if avg_seconds is not None and waiting_s is not None else None
    return {"avg_waiting_seconds": waiting_s, "avg_work_seconds": work_s}


def stage_duration_metrics(scope: MetricsScope, figures: rollups.Figures | None = None) -> list[dict]:
    """Counts and averages from the day components; p50/p90 approximate, within histograms.BOUND (2.5 %) of the
    exact ones, from the rolled days' histograms and the live rest binned the same way (insights.histograms)."""
    t = _figures(scope, figures).totals
    counts = {key: v for (figure, key), v in t.items() if figure == "stages" and v[0]}
    pcts = histograms.window_percentiles(scope, scoped_orders(scope)) if counts else {}
    result = []
    for code in sorted(counts):
        n, total = counts[code]
        avg = round(float(total / n), 1)
        pct = pcts.get(code, {p: None for p in PERCENTILES})
        result.append({
            "stage_code": code, "count": n, "avg_seconds": avg, "p50_seconds": pct[0.5], "p90_seconds": pct[0.9],
            # Of the average: time waiting on the consumer (payment, approval: the SLA clock stood still) and
            # the rest, the store's own time.
            **_work_and_waiting(avg, t[("waiting", code)][1] / n),
        })
    return result


def rework_metrics(scope: MetricsScope, figures: rollups.Figures | None = None) -> dict:
    f = _figures(scope, figures)
    approval, reworked, rounds = (f.count("rework", k) for k in ("approval_stages", "reworked", "rounds"))
    return {
        "approval_stages": approval, "stages_reworked": reworked, "rounds_total": rounds,
        "rounds_avg": round(rounds / approval, 3) if approval else None,
    }


# --- SLA breaches -----------------------------------------------------------------------------------
def breach_metrics(scope: MetricsScope, figures: rollups.Figures | None = None) -> dict:
    f = _figures(scope, figures)
    by_kind = {key: v[0] for (figure, key), v in f.totals.items() if figure == "breaches" and v[0]}
    per_store_n = {store: sum(v[0] for v in t.values()) for store, t in f.by_store.items()}
    names = dict(Store.objects.filter(pk__in=[s for s, n in per_store_n.items() if n]).values_list("pk", "name"))
    per_store = sorted(({"store": pk, "store_name": names[pk], "breaches": n} for pk, n in per_store_n.items() if n),
                       key=lambda r: (-r["breaches"], r["store_name"], r["store"]))
    # How far they went (insights.escalation) changes after detection, so it is counted live, over the escalated
    # breaches of the window only.
    escalated = (SlaBreach.objects.filter(order__in=_order_ids(scope)).filter(scope.period("detected_at"))
                 .filter(Q(brand_escalated_at__isnull=False) | Q(platform_escalated_at__isnull=False))
                 .aggregate(brand=Count("pk", filter=Q(brand_escalated_at__isnull=False)),
                            platform=Count("pk", filter=Q(platform_escalated_at__isnull=False))))
    return {
        "total": sum(by_kind.values()),
        "by_kind": {str(k): by_kind.get(k, 0) for k in SlaBreach.Kind.values},
        # how far they went (insights.escalation): told the brand's admins, told the platform's operators
        "escalated": escalated,
        "per_store": per_store,
    }


# --- all of it ------------------------------------------------------------------------------------
def platform_metrics(*, user: User, merchant: int | None = None, store: int | None = None,
                     technician: int | None = None, date_from: datetime | None = None,
                     date_to: datetime | None = None) -> dict:
    scope = metrics_scope(user=user, merchant=merchant, store=store, technician=technician,
                          date_from=date_from, date_to=date_to)
    return metrics_for_scope(scope)


def metrics_for_scope(scope: MetricsScope) -> dict:
    figures = rollups.window_figures(scope, scoped_orders(scope))
    return {
        "filters": {
            "merchant": scope.merchant.pk if scope.merchant else None,
            "store": scope.store.pk if scope.store else None,
            "technician": scope.technician.pk if scope.technician else None,
            "from": scope.start.isoformat() if scope.start else None,
            "to": scope.end.isoformat() if scope.end else None,
        },
        "orders": orders_summary(scope, figures),
        "arrivals": arrival_metrics(scope, figures),
        "arrivals_by_day": arrivals_by_day(scope, figures),
        "stage_durations": stage_duration_metrics(scope, figures),
        "sla_breaches": breach_metrics(scope, figures),
        "rework": rework_metrics(scope, figures),
        # Figures other apps own (payments: money per currency), each over the same orders and period.
        **{name: app_figure(scope, figures, name) for name in hooks.order_figures()},
    }


def app_figure(scope: MetricsScope, figures: rollups.Figures, name: str):
    """An app's figure over the scope's orders and period; one with day components (hooks.register_order_figure's
    day_rows) gets them summed over the window (rolled days + the live rest) and the scope."""
    figure, rollup = hooks.order_figures()[name], hooks.figure_rollups().get(name)
    if rollup is None:
        return figure(_order_ids(scope), scope.start, scope.end)
    return figure(_order_ids(scope), scope.start, scope.end, scope=scope,
                  days=figures.of(name) if rollup.day_rows else None)


def orders_summary(scope: MetricsScope, figures: rollups.Figures | None = None) -> dict:
    """The orders created in the window by their status now: rolled creation days and the live rest
    (insights.order_counts)."""
    return order_counts.orders_summary(scope, scoped_orders(scope), figures)


def orders_at_risk(scope: MetricsScope, *, now: datetime | None = None, hours: int | None = None,
                   limit: int = 50) -> list[StageInstance]:
    """Open stages whose SLA ends within the next `hours` (default INSIGHTS_AT_RISK_HOURS), soonest first."""
    now = now or timezone.now()
    hours = hours if hours is not None else setting("INSIGHTS_AT_RISK_HOURS")
    return list(
        StageInstance.objects.filter(
            order__in=_order_ids(scope), order__status=ServiceOrder.Status.ACTIVE, state__in=OPEN_STAGE_STATES,
            sla_due_at__gte=now, sla_due_at__lt=now + timedelta(hours=hours), sla_paused_at__isnull=True,
        ).select_related("order__store", "definition").order_by("sla_due_at", "pk")[:limit]
    )
