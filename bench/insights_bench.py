"""Benchmark (not a test): the SLA scan's steady state and the metrics, for an operator, a brand and a store, over
generated history (bench/generate.py) on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_w1e5 \
        .venv/bin/python bench/insights_bench.py --orders 100000 [--keep] [--repeat 5] [--json out.json]

Without --keep it (re)creates the database named in DATABASE_URL (refusing any name not starting with "bench"),
migrates it and generates --orders orders with `bench.generate.generate` (--prefix "bench": users bench_ops,
bench_admin, bench_manager); with --keep it measures the database as it is. Then it times, each as the median of
--repeat runs (every run's time is printed too):

- first the roll-up of the finished days (insights.rollups.roll_finished_days, timed: all history the first time,
  then what the job does every 15 minutes), so the metrics read rolled days as in production;
- the SLA scan in its steady state (`insights.sla.sla_scan` with nothing new to record, what runs every 5 minutes;
  one scan first records what the clock made due since the data was generated);
- `GET /api/v1/platform/metrics/` (Django's test client, in-process) and, separately, its parts (the rolled figures:
  days from the roll-up plus the live rest; the duration percentiles from the rolled histograms plus the live rest,
  and the exact percentile_cont they replaced, for comparison; the orders by status; each app's figure as the API
  computes it, and the payments' figure all live as before its roll-up), as the
  platform operator (every order), the merchant admin (the brand: here the one merchant, so every order too) and
  the manager of one store (1 of 20).

The figures before phase 2 of issue 22 are in docs/performance.md ("A million orders").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import recreate_database  # noqa: E402 (needs the path above)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")


def timed(label: str, fn, repeat: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    runs = []
    with CaptureQueriesContext(connection) as ctx:
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - t0)
    median = statistics.median(runs)
    queries = len(ctx.captured_queries) // repeat
    print(f"  {label:<48} median {median * 1000:9.1f} ms  ({', '.join(f'{r * 1000:.0f}' for r in runs)}; "
          f"{queries} queries)", flush=True)
    return {"label": label, "median_ms": round(median * 1000, 1), "runs_ms": [round(r * 1000, 1) for r in runs],
            "queries": queries}


def _exact(scope) -> list:
    """The exact p50/p90 per stage code as the metrics computed them before ADR 0007 (percentile_cont over every done
    stage of the window), to compare with the approximate ones in the same run."""
    from django.db.models import Aggregate, DurationField

    from insights.histograms import done_stages
    from insights.rollups import DURATION
    from insights.selectors import scoped_orders

    class PercentileCont(Aggregate):
        function = "percentile_cont"
        template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    qs = done_stages(scoped_orders(scope), scope.start, scope.end, scope.technician)
    return list(qs.values("definition__code").order_by("definition__code").annotate(
        p50=PercentileCont(DURATION, fraction="0.5", output_field=DurationField()),
        p90=PercentileCont(DURATION, fraction="0.9", output_field=DurationField())))


def _error(scope) -> float:
    """The largest relative error of the approximate p50/p90 against the exact ones (ADR 0007 states 2.5 %)."""
    from insights import histograms
    from insights.selectors import scoped_orders

    approximate = histograms.window_percentiles(scope, scoped_orders(scope))
    worst = 0.0
    for r in _exact(scope):
        for p, key in ((0.5, "p50"), (0.9, "p90")):
            exact = r[key].total_seconds()
            worst = max(worst, abs(approximate[r["definition__code"]][p] - exact) / exact if exact else 0.0)
    return round(worst, 4)


def measure(repeat: int, prefix: str) -> dict:
    from django.utils import timezone
    from rest_framework.test import APIClient

    from insights import histograms, rollups
    from insights.selectors import (
        app_figure,
        metrics_scope,
        orders_summary,
            scoped_orders,
        stage_duration_metrics,
    )
    from insights.sla import sla_scan
    from tenancy.models import User
    from workflows import hooks
    from workflows.models import ServiceOrder

    orders = ServiceOrder.objects.count()
    active = ServiceOrder.objects.filter(status="active").count()
    print(f"orders: {orders}, active: {active}", flush=True)
    first = sla_scan()
    print(f"  SLA scan before measuring recorded {first} (what came due since the data was generated)")
    results = {"orders": orders, "active": active, "rows": []}
    from insights.rollups import roll_finished_days
    for label in ("roll-up of the finished days (first run: all history)",
                  "roll-up, next run (the job every 15 minutes)"):
        t0 = time.perf_counter()
        written = roll_finished_days()
        seconds = time.perf_counter() - t0
        print(f"  {label}: {written} rows in {seconds:.1f} s", flush=True)
        results.setdefault("rollup", []).append({"label": label, "rows": written, "seconds": round(seconds, 1)})
    results["rows"].append(timed("SLA scan, steady state", sla_scan, repeat))
    # The same with the clock stopped where the last scan left it: nothing can come due, so this is only what the
    # scan reads when there is nothing to record (at 10^6 orders the running clock makes new subjects due every
    # second, and recording them is the scan's real work, not its steady state).
    fixed = timezone.now()
    # Five runs first: a long-lived worker's connection executes the scan's prepared statements more than five times,
    # after which PostgreSQL may use a generic plan (23-41 s per scan at 10^6 before plan_cache_mode was set:
    # docs/performance.md). The measured runs are the sixth and later.
    for _ in range(5):
        sla_scan(now=fixed)
    results["rows"].append(timed("SLA scan, steady state, clock stopped", lambda: sla_scan(now=fixed), repeat))
    for who, username in (("operator", f"{prefix}_ops"), ("brand", f"{prefix}_admin"),
                          ("store", f"{prefix}_manager")):
        user = User.objects.get(username=username)
        client = APIClient()
        client.force_authenticate(user)

        def endpoint(client=client):
            response = client.get("/api/v1/platform/metrics/")
            assert response.status_code == 200, response.content[:300]

        results["rows"].append(timed(f"GET /api/v1/platform/metrics/ ({who})", endpoint, repeat))
        scope = metrics_scope(user=user)
        figures = rollups.window_figures(scope, scoped_orders(scope))
        for part, fn in (
                ("rolled figures (days + live rest)", lambda s=scope: rollups.window_figures(s, scoped_orders(s))),
                ("rolled figures, window up to now (?to=now)",
                 lambda u=user: rollups.window_figures(metrics_scope(user=u, date_to=timezone.now()),
                                                       scoped_orders(metrics_scope(user=u)))),
                ("stage durations (counts, averages, p50/p90)",
                 lambda s=scope, f=figures: stage_duration_metrics(s, f)),
                ("duration percentiles (histograms: rolled days + live rest)",
                 lambda s=scope: histograms.window_percentiles(s, scoped_orders(s))),
                ("exact percentile_cont, live (before ADR 0007; for comparison)", lambda s=scope: _exact(s)),
                ("orders by status (alone: rolled days + live rest)", lambda s=scope: orders_summary(s)),
                ("orders by status (with the rolled figures, as the API)",
                 lambda s=scope, f=figures: orders_summary(s, f)),
                # As the API computes it: rolled day components (in `figures`) and, for payments, the job's
                # snapshot of what is owed; the rest live.
                *((f"{name} (its app's figure)", lambda s=scope, f=figures, n=name: app_figure(s, f, n))
                  for name in hooks.order_figures()),
                # payments' figure as before the roll-up: every ledger row and open installment (option a's floor).
                ("payments, all live (no roll-up)",
                 lambda s=scope: hooks.order_figures()["payments"](scoped_orders(s).values("pk"), None, None))):
            results["rows"].append(timed(f"  of which {part}", fn, repeat))
        error = _error(scope)
        print(f"  p50/p90 from the histograms vs exact ({who}): largest relative error {error:.4f}", flush=True)
        results.setdefault("percentile_error", {})[who] = error
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="measure the database as it is (no generation)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--prefix", default="bench", help="the generated merchant's slug and user-name prefix")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("set DATABASE_URL=postgres://.../bench_<name>")
    if not args.keep:
        recreate_database(url)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from bench.generate import generate

    settings.CELERY_TASK_ALWAYS_EAGER = True
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"{started}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    generated = None
    if not args.keep:
        call_command("migrate", verbosity=0)
        done = generate(args.orders, prefix=args.prefix)
        generated = {"seconds": round(done.seconds["total"], 1), "rows": sum(done.rows.values())}
        print(f"generated {args.orders} orders ({generated['rows']} rows) in {generated['seconds']} s", flush=True)
    results = {"started": started, "generated": generated, **measure(args.repeat, args.prefix),
               "load_average_end": round(os.getloadavg()[0], 1)}
    print(f"load average at the end {results['load_average_end']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
