"""Geometry for the dashboard's server-side SVG charts (no JavaScript, no CDN).

Each function turns a metrics section into plain numbers the template draws as <rect>/<text>.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext as _

from core import display

WIDTH = 560
LABEL_W = 120
BAR_H = 22
GAP = 8


def _hours(seconds: float | None) -> float:
    return (seconds or 0) / 3600


def fmt_hours(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    h = seconds / 3600
    if h < 1:
        return _("%(n)s min") % {"n": f"{seconds / 60:.0f}"}
    if h < 48:
        return _("%(n)s h") % {"n": f"{h:.1f}"}
    return _("%(n)s d") % {"n": f"{h / 24:.1f}"}


def _columns(days: list[dict], *, fraction, text, tip, color, height: int) -> dict:
    """Vertical bars, one per day (the last 31): `fraction(d)` of the full height, `text(d)` above the bar."""
    days = days[-31:]
    n = max(len(days), 1)
    plot_w = WIDTH - 40
    step = plot_w / n
    bar_w = max(min(step * 0.7, 40), 2)
    cols = []
    for i, d in enumerate(days):
        h = fraction(d) * height
        x = 30 + i * step + (step - bar_w) / 2
        cols.append({
            "x": round(x, 1), "y": round(20 + height - h, 1), "w": round(bar_w, 1), "h": round(h, 1),
            "vy": round(20 + height - h - 4, 1), "ly": 20 + height + 16,
            "label": d["date"][5:], "pct": text(d), "cx": round(x + bar_w / 2, 1), "tip": tip(d),
            "color": color(d), "show_label": n <= 10 or i % max(round(n / 8), 1) == 0, "show_pct": n <= 16,
        })
    return {"columns": cols, "height": height + 50, "base_y": 20 + height, "top_y": 20,
            "mid_y": 20 + height / 2, "width": WIDTH, "top_label_y": 24}


def _traffic_light(value: float, good: float, fair: float) -> str:
    return "#2e7d32" if value >= good else ("#f9a825" if value >= fair else "#c62828")


def on_time_columns(by_day: list[dict], *, height: int = 240) -> dict:
    """Vertical bars, one per day: the on-time rate (0-100 %)."""
    return _columns(
        by_day, height=height, fraction=lambda d: d["on_time_rate"] or 0,
        text=lambda d: f"{(d['on_time_rate'] or 0) * 100:.0f}%",
        tip=lambda d: _("%(date)s: %(on_time)s of %(checkins)s on time") % {
            "date": d["date"], "on_time": d["on_time"], "checkins": d["checkins"]},
        color=lambda d: _traffic_light(d["on_time_rate"] or 0, 0.9, 0.7))


def rating_columns(by_day: list[dict], *, height: int = 240) -> dict:
    """Vertical bars, one per day: the average stars of the ratings given that day (0-5)."""
    return _columns(
        by_day, height=height, fraction=lambda d: (d["average"] or 0) / 5,
        text=lambda d: f"{d['average'] or 0:.1f}",
        tip=lambda d: _("%(date)s: %(average)s stars on average from %(count)s ratings") % {
            "date": d["date"], "average": f"{d['average'] or 0:.1f}", "count": d["count"]},
        color=lambda d: _traffic_light(d["average"] or 0, 4.5, 3.5))


def _hbars(rows: list[tuple[str, list[tuple[float, str, str]]]], *, scale_max: float) -> dict:
    """Horizontal bar groups: rows of (label, [(value, color, text), ...])."""
    plot_w = WIDTH - LABEL_W - 175
    scale_max = scale_max or 1
    out, y = [], 10
    for label, bars in rows:
        group = {"label": label, "y": y + BAR_H * len(bars) / 2 + 4, "bars": []}
        for value, color, text in bars:
            w = max(plot_w * (value / scale_max), 1 if value else 0)
            group["bars"].append({"x": LABEL_W, "y": y, "w": round(w, 1), "h": BAR_H - 2, "color": color,
                                  "text": text, "tx": round(LABEL_W + w + 6, 1), "ty": y + BAR_H - 7})
            y += BAR_H
        out.append(group)
        y += GAP
    return {"groups": out, "height": max(y + 10, 40), "width": WIDTH}


def stage_duration_bars(stages: list[dict]) -> dict:
    top = max([s["p90_seconds"] or 0 for s in stages] + [1])
    return _hbars([
        (s["stage_code"], [(_hours(s["p50_seconds"]), "#5c6bc0", f"p50 {fmt_hours(s['p50_seconds'])}"),
                           (_hours(s["p90_seconds"]), "#1a237e", f"p90 {fmt_hours(s['p90_seconds'])}")])
        for s in stages
    ], scale_max=_hours(top))


def breach_bars(per_store: list[dict]) -> dict:
    rows = per_store[:12]
    top = max([r["breaches"] for r in rows] + [1])
    return _hbars([(r["store_name"], [(r["breaches"], "#c62828", str(r["breaches"]))]) for r in rows],
                  scale_max=top)


def money_bars(payments: list[dict]) -> dict:
    rows = []
    top = Decimal("0")
    for p in payments:
        paid, out, ref = Decimal(p["net_paid"]), Decimal(p["outstanding"]), Decimal(p["refunded"])
        top = max(top, paid, out, ref)
        cur = p["currency"]
        rows.append((cur, [(float(paid), "#2e7d32", _("net paid %(amount)s") % {"amount": display.money(paid, cur)}),
                           (float(out), "#f9a825", _("outstanding %(amount)s") % {"amount": display.money(out, cur)}),
                           (float(ref), "#8d6e63", _("refunded %(amount)s") % {"amount": display.money(ref, cur)})]))
    return _hbars(rows, scale_max=float(top) or 1)
