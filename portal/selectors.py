"""Read-side queries of the consumer's page that other screens use: the ratings' figures for the platform's
metrics (registered as an order figure, so insights never imports this app)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Avg, Count, Exists, Min, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.conf import setting
from portal.models import Rating, VisitRating
from tenancy.scoping import visible_to
from workflows.models import ServiceOrder


def _rows(qs, key: str, name: str) -> list[dict]:
    return [{key: r[key], "name": r[name] or "", "count": r["count"],
             "average": round(float(r["average"]), 2) if r["average"] is not None else None}
            for r in qs]


def rating_figures(orders: QuerySet, start=None, end=None) -> dict:
    """Average stars and how many ratings, in all and per store, per template and per technician (visits'
    ratings) and per day (the service's time zone), for ratings given in [start, end) on these orders; `low`:
    ratings of 1-2 stars. Four queries (the totals are summed from the days)."""
    period = Q()
    if start is not None:
        period &= Q(created_at__gte=start)
    if end is not None:
        period &= Q(created_at__lt=end)
    ratings = Rating.objects.filter(order__in=orders).filter(period)
    by_day = list(ratings.annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
                  .values("day").order_by("day")
                  .annotate(count=Count("pk"), stars=Sum("score"), low=Count("pk", filter=Q(score__lte=2))))
    count = sum(d["count"] for d in by_day)
    by_store = (ratings.values("order__store", "order__store__name").order_by("order__store")
                .annotate(count=Count("pk"), average=Avg("score")))
    by_template = (ratings.values("order__template_version__template", "order__template_version__template__name")
                   .order_by("order__template_version__template").annotate(count=Count("pk"), average=Avg("score")))
    visit_period = Q(rating__in=ratings.values("pk"))
    by_technician = (VisitRating.objects.filter(visit_period).values("technician", "technician__username")
                     .order_by("technician").annotate(count=Count("pk"), average=Avg("score")))
    return {
        "count": count,
        "average": round(sum(d["stars"] for d in by_day) / count, 2) if count else None,
        "low": sum(d["low"] for d in by_day),
        "by_store": [{**r, "store": r.pop("order__store")} for r in _rows(by_store, "order__store",
                                                                           "order__store__name")],
        "by_template": [{**r, "template": r.pop("order__template_version__template")} for r in _rows(
            by_template, "order__template_version__template", "order__template_version__template__name")],
        "by_technician": [{**r, "technician": r.pop("technician")} for r in _rows(
            by_technician, "technician", "technician__username")],
        "by_day": [{"date": d["day"].isoformat(), "count": d["count"], "average": round(d["stars"] / d["count"], 2)}
                   for d in by_day],
    }


def low_rated_orders(*, user, store, now) -> list[tuple[ServiceOrder, str]]:
    """The store's orders rated 1-2 stars (the order, or one of its visits' technicians) in the last
    PORTAL_LOW_RATING_DAYS days, newest first, within `user`'s scope: for the store's day. One query."""
    since = now - timedelta(days=setting("PORTAL_LOW_RATING_DAYS"))
    low_visit = VisitRating.objects.filter(rating=OuterRef("rating"), score__lte=2)
    orders = (visible_to(ServiceOrder.objects.all(), user)
              .filter(store=store, rating__updated_at__gte=since)
              .filter(Q(rating__score__lte=2) | Exists(low_visit))
              .annotate(visit_low=Min("rating__visits__score"))
              .select_related("rating").order_by("-rating__updated_at", "-pk")[:50])
    return [(o, _("%(score)s of 5 stars: %(comment)s") % {"score": min(o.rating.score, o.visit_low or 5),
                                                            "comment": o.rating.comment or "-"})
            for o in orders]
