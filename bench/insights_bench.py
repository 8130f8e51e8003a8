"""Benchmark (not a test): the SLA scan and the metrics over 100,000 generated orders on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_insights \
        .venv/bin/python bench/insights_bench.py [--orders 100000] [--keep]

It (re)creates the database named in DATABASE_URL (refusing any name not starting with "bench"),
migrates it, builds one merchant with 20 stores and the reference wardrobe template through the
services, then writes the orders and their rows with PostgreSQL COPY: 80 % completed orders
(5 done stages, 4 paid installments with payments and ledger charges, 2 visits with check-in
events), 20 % active orders spread over the stages (visits booked, some past their window; stages
in progress, some past their SLA; approvals waiting up to 5 days; installments due up to 6 days).
Event rows carry a placeholder hash (the chain is not what is measured here).
Then it times: the first SLA scan (records every breach: lock, breach row, event, notification),
a second scan (nothing new: the steady state every 5 minutes), and the metrics selector and the
HTTP endpoint for an operator (all), a merchant admin and a store manager, with and without a period.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

# ruff: noqa: S106, S608 (unusable placeholder passwords; table names are constants of this script)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import recreate_database  # noqa: E402 (needs the path above)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")


def timed(label: str, fn, results: list, repeat: int = 1):
    best = None
    value = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        elapsed = time.perf_counter() - t0
        best = elapsed if best is None else min(best, elapsed)
    results.append((label, best))
    print(f"  {label:<62} {best * 1000:>10.1f} ms", flush=True)
    return value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="reuse the existing database (skip generation)")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("set DATABASE_URL=postgres://.../bench_insights")
    if not args.keep:
        recreate_database(url)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    settings.CELERY_TASK_ALWAYS_EAGER = True
    results: list = []
    if not args.keep:
        call_command("migrate", verbosity=0)
        t0 = time.perf_counter()
        generate(args.orders)
        print(f"generated {args.orders} orders in {time.perf_counter() - t0:.1f} s", flush=True)
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
    run(results)
    print("\n| measurement | time |\n| --- | ---: |")
    for label, secs in results:
        print(f"| {label} | {secs * 1000:.1f} ms |")


def generate(n_orders: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from tenancy.models import Merchant, Store, User
    from tests.factories.workflows import make_template
    from workflows.models import StageDefinition

    random.seed(42)
    merchant = Merchant.objects.create(name="Bench Furniture", slug="bench", tier="enterprise")
    stores = [Store.objects.create(merchant=merchant, name=f"Bench store {i:02d}", code=f"s{i:02d}",
                                   address=f"{i} Bench Road", latitude=Decimal("31.2"), longitude=Decimal("121.4"))
              for i in range(20)]
    # Unusable passwords: hashing hundreds of real ones would dominate the set-up time.
    User.objects.create(username="bench_ops", password="!", role="platform_operator", is_staff=True)
    User.objects.create(username="bench_admin", password="!", role="merchant_admin", merchant=merchant, is_staff=True)
    manager = User.objects.create(username="bench_manager", password="!", role="store_manager", merchant=merchant,
                                  is_staff=True)
    manager.stores.set(stores[:1])
    techs = []
    for i in range(60):
        t = User.objects.create(username=f"bench_tech{i}", password="!", role="technician", merchant=merchant)
        t.stores.set([stores[i % 20]])
        techs.append(t)
    consumers = User.objects.bulk_create([User(username=f"bench_c{i}", password="!", role="consumer")
                                          for i in range(500)])
    template = make_template(merchant=merchant, stores=stores)
    version = template.versions.get(status="published")
    defs = list(StageDefinition.objects.filter(version=version).order_by("position"))
    shares = [Decimal("0.10"), Decimal("0"), Decimal("0.30"), Decimal("0.50"), Decimal("0.10")]
    timing = ["before", None, "after", "before", "after"]

    now = timezone.now()
    total = Decimal("12000.00")
    orders, stages, appts, events, insts, pays, ledger = [], [], [], [], [], [], []
    sid = aid = eid = iid = pid = lid = 0
    for oid in range(1, n_orders + 1):
        store = stores[oid % 20]
        tech = techs[(oid % 20) + 20 * (oid % 3)]
        created = now - timedelta(days=random.uniform(0, 180))
        active = random.random() < 0.2
        current_pos = random.randint(2, 5) if active else 6
        stage_ids = []
        t = created
        first_stage_id = sid + 1
        for pos, d in enumerate(defs, start=1):
            sid += 1
            stage_ids.append(sid)
            entered = started = submitted = completed = sla_due = None
            state = "pending"
            if pos < current_pos:
                entered = t
                dur = timedelta(hours=random.uniform(1, d.sla_hours or 48) * 1.1)
                completed = t + dur
                started = t
                sla_due = t + timedelta(hours=d.sla_hours) if d.sla_hours else None
                state, t = "done", completed
            elif pos == current_pos:
                entered = t = max(t, now - timedelta(days=8))
                r = random.random()
                if d.requires_appointment:
                    if r < 0.7:
                        state = "scheduled"
                    else:
                        state, started = "in_progress", now - timedelta(hours=random.uniform(0, 90))
                        sla_due = started + timedelta(hours=d.sla_hours)
                elif d.requires_approval:
                    if r < 0.6:
                        state, submitted = "awaiting_approval", now - timedelta(hours=random.uniform(0, 120))
                    else:
                        state, started = "in_progress", now - timedelta(hours=random.uniform(0, 150))
                        sla_due = started + timedelta(hours=d.sla_hours)
                else:
                    state = "waiting_payment"
            stages.append((sid, oid, d.pk, pos, state, random.choice((0, 0, 0, 1)) if completed and
                           d.requires_approval else 0, entered, started, submitted, completed, sla_due, ""))
            if d.requires_appointment and (pos < current_pos or (pos == current_pos)):
                aid += 1
                if pos < current_pos:
                    ws = entered + timedelta(hours=1)
                    appts.append((aid, oid, sid, store.pk, tech.pk, ws, ws + timedelta(hours=2), "checked_out", 0,
                                  None, created, ws, ws + timedelta(hours=2)))
                    eid += 1
                    on_time = random.random() < 0.85
                    events.append((eid, oid, 100 + pos, sid, "job.checked_in", "", "", "", tech.pk, "technician",
                                   ws + timedelta(minutes=5),
                                   json.dumps({"on_time": on_time, "outside_radius": random.random() < 0.05,
                                               "distance_m": round(random.uniform(3, 500), 1)}),
                                   "", "bench"))
                else:
                    ws = now + timedelta(hours=random.uniform(-30, 72))
                    st = "booked" if state == "scheduled" else "checked_in"
                    appts.append((aid, oid, sid, store.pk, tech.pk, ws, ws + timedelta(hours=2), st, 0, None,
                                  created, ws if st == "checked_in" else None, None))
        eid += 1
        events.append((eid, oid, 1, first_stage_id, "order.created", "", "", "booking:waiting_payment", None,
                       "system", created, '{"total_amount": "12000.00"}', "", "bench"))
        for pos, share in enumerate(shares, start=1):
            if not share:
                continue
            iid += 1
            paid = pos < current_pos - (1 if timing[pos - 1] == "after" else 0)
            due_state = "paid" if paid else ("due" if pos == current_pos and timing[pos - 1] == "before"
                                             else "scheduled")
            amount = total * share
            due_at = (None if due_state == "scheduled"
                      else (created if paid else now - timedelta(hours=random.uniform(0, 144))))
            insts.append((iid, oid, stage_ids[pos - 1], pos, amount, "CNY", timing[pos - 1], True, due_state,
                          created, due_at, created + timedelta(days=1) if paid else None))
            if paid:
                pid += 1
                pays.append((pid, iid, oid, "sandbox", f"bench{pid:012d}", None, amount, "CNY", "captured", "", None,
                             created, created + timedelta(days=1), None))
                lid += 1
                ledger.append((lid, oid, iid, pid, None, "charge", amount, "CNY", created + timedelta(days=1)))
        order_state = "completed" if not active else f"{defs[current_pos - 1].code}:{stages[-6 + current_pos][4]}"
        orders.append((oid, f"B{oid:09d}", merchant.pk, store.pk, consumers[oid % 500].pk, version.pk, total, "CNY",
                       "1 Bench Road", Decimal("31.2"), Decimal("121.4"), order_state,
                       "active" if active else "completed", None, None, created, None if active else t, None, "", 1))

    copies = [
        ("workflows_serviceorder", "id, number, merchant_id, store_id, consumer_id, template_version_id, total_amount, "
         "currency, service_address, latitude, longitude, state, status, current_stage_id, created_by_id, created_at, "
         "completed_at, cancelled_at, cancel_reason, tracking_token_version", orders),
        ("workflows_stageinstance", "id, order_id, definition_id, position, state, rework_rounds, entered_at, "
         "started_at, submitted_at, completed_at, sla_due_at, submission_notes", stages),
        ("workflows_appointment", "id, order_id, stage_id, store_id, technician_id, window_start, window_end, state, "
         "reschedule_count, booked_by_id, created_at, checked_in_at, checked_out_at", appts),
        ("workflows_orderevent", "id, order_id, seq, stage_id, kind, trigger, from_state, to_state, actor_id, "
         "actor_role, created_at, payload, prev_hash, hash", events),
        ("payments_installment", "id, order_id, stage_id, position, amount, currency, timing, refundable, state, "
         "created_at, due_at, paid_at", insts),
        ("payments_payment", "id, installment_id, order_id, provider, reference, provider_payment_id, amount, "
         "currency, status, checkout_url, created_by_id, created_at, captured_at, closed_at", pays),
        ("payments_ledgerentry", "id, order_id, installment_id, payment_id, refund_id, kind, amount, currency, "
         "created_at", ledger),
    ]
    with connection.cursor() as cur:
        raw = cur.cursor
        for table, cols, rows in copies:
            t0 = time.perf_counter()
            with raw.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
            print(f"  COPY {table:<28} {len(rows):>9} rows {time.perf_counter() - t0:6.1f} s", flush=True)


def run(results: list) -> None:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from insights.models import SlaBreach
    from insights.selectors import platform_metrics
    from insights.sla import sla_scan
    from tenancy.models import Store, User
    from workflows.models import ServiceOrder

    print(f"orders: {ServiceOrder.objects.count()}, active: {ServiceOrder.objects.filter(status='active').count()}")
    ops = User.objects.get(username="bench_ops")
    admin = User.objects.get(username="bench_admin")
    manager = User.objects.get(username="bench_manager")
    store = Store.objects.order_by("pk").first()

    counts = timed("SLA scan, first run (records every breach)", sla_scan, results)
    print(f"    breaches recorded: {counts} (total {SlaBreach.objects.count()})")
    with CaptureQueriesContext(connection) as ctx:
        counts2 = timed("SLA scan, second run (nothing new)", sla_scan, results, repeat=3)
    print(f"    second run: {counts2}, {len(ctx.captured_queries) // 3} queries per run")
    reset_queries()

    from datetime import timedelta

    from django.utils import timezone
    month_ago = timezone.now() - timedelta(days=30)
    timed("metrics selector, operator, all 100k orders", lambda: platform_metrics(user=ops), results, repeat=3)
    timed("metrics selector, operator, last 30 days",
          lambda: platform_metrics(user=ops, date_from=month_ago), results, repeat=3)
    timed("metrics selector, merchant admin", lambda: platform_metrics(user=admin), results, repeat=3)
    timed("metrics selector, store manager (1 of 20 stores)", lambda: platform_metrics(user=manager), results,
          repeat=3)
    timed("metrics selector, merchant admin, store filter",
          lambda: platform_metrics(user=admin, store=store.pk), results, repeat=3)
    client = APIClient()
    client.force_authenticate(ops)

    def endpoint():
        r = client.get("/api/v1/platform/metrics/")
        assert r.status_code == 200, r.content
        return r

    with CaptureQueriesContext(connection) as ctx:
        r = timed("GET /api/v1/platform/metrics/ (operator)", endpoint, results, repeat=3)
    print(f"    {len(ctx.captured_queries) // 3} queries per request; "
          f"on-time rate {r.json()['arrivals']['on_time_rate']}, breaches {r.json()['sla_breaches']['total']}")


if __name__ == "__main__":
    main()
