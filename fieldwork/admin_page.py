"""The order page's site part (workflows.hooks.register_admin_section): each visit's check-in (distance,
on time / late / early, outside the radius flagged) and check-out, and the evidence as thumbnails."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fieldwork.models import Evidence
from workflows.hooks import OrderDetailRows

TITLE = gettext_lazy("On site: check-ins and photos")
_EVIDENCE = ("id", "order_id", "appointment_id", "stage_id", "kind", "content_type", "recorded_at", "late_sync")


def load(details: list[OrderDetailRows]) -> dict[int, list]:
    """The orders' evidence rows (one query; none when no visit was checked in: evidence needs a check-in)."""
    loaded = {d.order.pk: [] for d in details}
    ids = [d.order.pk for d in details if any(a["checked_in_at"] for a in d.appointments)]
    if ids:
        for row in Evidence.objects.filter(order_id__in=ids).order_by("recorded_at", "pk").values_list(
                *_EVIDENCE, named=True):
            loaded[row.order_id].append(row)
    return loaded


def _punctuality(checkin) -> str:
    if checkin.on_time_:
        return _("on time")
    if checkin.minutes_late_:
        return _("%(n)s min late") % {"n": checkin.minutes_late_}
    if checkin.minutes_early_:
        return _("%(n)s min early") % {"n": checkin.minutes_early_}
    return ""


def render(detail: OrderDetailRows, request) -> str:
    """Reads the check-ins the "visits" section loaded and the evidence this part loaded."""
    records = detail.sections.get("visits") or {}
    evidence = detail.sections.get("admin:site") or []
    if not records and not evidence:
        return ""
    names = {s["id"]: s["definition__name"] for s in detail.stages}
    visits = []
    for a in detail.appointments:
        checkins, checkouts = records.get(a["id"], ((), ()))
        first_in = min(checkins, key=lambda c: (c.recorded_at, c.pk), default=None)
        last_out = max(checkouts, key=lambda c: (c.recorded_at, c.pk), default=None)
        if first_in is None:
            continue
        visits.append({
            "stage": names.get(a["stage_id"], ""), "checked_in_at": first_in.recorded_at,
            "distance_m": round(first_in.distance_m_) if first_in.distance_m_ is not None else None,
            "outside_radius": bool(first_in.outside_radius_), "punctuality": _punctuality(first_in),
            "late": bool(first_in.minutes_late_) and not first_in.on_time_,
            "checked_out_at": last_out.recorded_at if last_out else None,
            "late_sync": any(r.late_sync for r in (*checkins, *checkouts)),
        })
    photos = [{
        "url": reverse("order-evidence-file", kwargs={"id": detail.order.pk, "evidence_id": e.id}),
        "image": e.content_type.startswith("image/"), "kind": Evidence.Kind(e.kind).label,
        "stage": names.get(e.stage_id, ""), "recorded_at": e.recorded_at,
    } for e in evidence]
    return render_to_string("admin/fieldwork/order_section.html", {"visits": visits, "photos": photos},
                            request=request)
