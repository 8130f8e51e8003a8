"""Core benchmark (not a test): the engine, two hot endpoints and query counts, each beside a ceiling.

    .venv/bin/python bench/run.py

With `DATABASE_URL` unset it uses postgres://postgres@127.0.0.1:5432/bench_core. It (re)creates that
database (refusing any name not starting with "bench"), migrates it, builds its data with the
product's services (a merchant, a store, technicians, the reference wardrobe template and a 4- and a
40-stage linear template whose stages need the consumer's approval), then measures, in one run:

1. stage transitions per second through `workflows.engine.fire` (start, complete, approve of every
   stage of many 4-stage orders), beside the ceiling: the very statements the engine issued for one
   order's lifecycle (recorded with their parameters), replayed with psycopg for other orders in
   the same state, one transaction per transition, `SELECT ... FOR UPDATE` included;
2. technician check-in (`POST /api/v1/technician/jobs/{id}/check-in/`) and consumer order detail
   (`GET /api/v1/orders/{id}/`) requests per second and p50/p99 latency against gunicorn
   (2 workers, loopback), beside a minimal DRF endpoint reading one row (`/bench/ping/`, only in
   bench/urls.py), and beside the same statements replayed with psycopg behind that endpoint's stack
   (`/bench/replay/...`: what the two would cost with nothing in Python but their SQL);
3. queries per order-detail request for a 4-stage and a 40-stage order in the same position.

It prints a table (figure, value, ceiling, ratio, target, pass/fail) and exits 1 when a target fails.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import recreate_database  # noqa: E402 (needs the path above)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_core"
# Every table's ids start at its own multiple of this, so an id is never equal to another table's
# id nor to a small integer (a seq, a position) in a statement's parameters: a recorded statement
# can be re-aimed at another order by swapping ids (see `replay_lifecycles`).
ID_BLOCK = 10_000_000


# --- database ------------------------------------------------------------------------------


def migrate() -> None:
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    with connection.cursor() as cur:
        cur.execute("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' ORDER BY sequencename")
        for k, (seq,) in enumerate(cur.fetchall(), start=1):
            cur.execute(f'ALTER SEQUENCE "{seq}" RESTART WITH {k * ID_BLOCK}')


# --- data, built through the product's services ----------------------------------------------


@dataclass
class World:
    merchant: object
    store: object
    manager: object
    technicians: list
    consumers: list
    wardrobe: object
    linear4: object
    linear40: object
    tokens: dict = field(default_factory=dict)


def build_world(n_technicians: int, n_consumers: int) -> World:
    from rest_framework.authtoken.models import Token

    from tests.factories.tenancy import (
        ConsumerFactory,
        MerchantFactory,
        StoreFactory,
        StoreManagerFactory,
        TechnicianFactory,
    )
    from tests.factories.workflows import linear_stages, make_template
    from workflows.reference import CUSTOM_WARDROBE

    merchant = MerchantFactory(tier="enterprise", name="Bench Wardrobes", slug="bench-wardrobes")
    store = StoreFactory(merchant=merchant, opens_at=dtime(8, 0), closes_at=dtime(20, 0),
                         working_days=[0, 1, 2, 3, 4, 5, 6])
    manager = StoreManagerFactory(stores=[store])
    technicians = [TechnicianFactory(stores=[store]) for _ in range(n_technicians)]
    consumers = [ConsumerFactory() for _ in range(n_consumers)]
    world = World(
        merchant=merchant, store=store, manager=manager, technicians=technicians, consumers=consumers,
        wardrobe=make_template(merchant=merchant, stores=[store], definition=CUSTOM_WARDROBE),
        linear4=make_template(merchant=merchant, stores=[store], definition=linear_stages(4, requires_approval=True)),
        linear40=make_template(merchant=merchant, stores=[store],
                               definition=linear_stages(40, requires_approval=True)),
    )
    for user in [manager, *technicians, *consumers]:
        world.tokens[user.pk] = Token.objects.get_or_create(user=user)[0].key
    return world


def new_order(world: World, template, consumer):
    from tests.factories.workflows import make_order

    return make_order(store=world.store, consumer=consumer, template=template, total=Decimal("12000.00"))


def pay_due(order) -> None:
    from payments.models import Installment
    from payments.services import installment_pay, sandbox_checkout_complete

    for inst in Installment.objects.filter(order=order, state__in=Installment.PAYABLE_STATES):
        payment = installment_pay(installment=inst, actor=order.consumer).payment
        sandbox_checkout_complete(payment=payment, outcome="paid")


def window_starts(store, length_minutes: int):
    """The store's bookable windows from tomorrow on, in order (each holds one visit per technician)."""
    tz = store.tzinfo
    day = datetime.now(tz).date() + timedelta(days=1)
    while True:
        if day.weekday() in store.working_days:
            start = datetime.combine(day, store.opens_at, tzinfo=tz)
            close = datetime.combine(day, store.closes_at, tzinfo=tz)
            while start + timedelta(minutes=length_minutes) <= close:
                yield start
                start += timedelta(minutes=length_minutes)
        day += timedelta(days=1)


def build_checkin_jobs(world: World, n: int) -> list[tuple[int, str, float, float, int, str]]:
    """n wardrobe orders, deposit paid, measuring visit booked:
    (job id, technician token, lat, lng, order id, consumer token)."""
    from workflows import services as wf
    from workflows.models import StageInstance

    jobs = []
    windows = window_starts(world.store, 90)
    window = None
    for i in range(n):
        if i % len(world.technicians) == 0:
            window = next(windows)
        order = new_order(world, world.wardrobe, world.consumers[i % len(world.consumers)])
        pay_due(order)
        stage = StageInstance.objects.get(order=order, definition__code="measuring")
        appt = wf.appointment_book(stage=stage, window_start=window, actor=order.consumer)
        jobs.append((appt.pk, world.tokens[appt.technician_id], float(order.latitude), float(order.longitude),
                     order.pk, world.tokens[order.consumer_id]))
    return jobs


def build_detail_order(world: World):
    """A wardrobe order with history: deposit paid, measuring visit done, design waiting for approval."""
    from demo.builder import Driver

    order = new_order(world, world.wardrobe, world.consumers[0])
    Driver(order=order, manager=world.manager, technician=world.technicians[0]).run_to("design:awaiting_approval")
    return order


def advance(order, consumer, actor, n_stages: int) -> None:
    """Take the first n_stages of a linear approval order through start, complete and approve."""
    from workflows.engine import fire

    for stage in list(order.stages.order_by("position"))[:n_stages]:
        fire(order_id=order.pk, trigger="start", actor=actor, stage_id=stage.pk)
        fire(order_id=order.pk, trigger="complete", actor=actor, stage_id=stage.pk)
        fire(order_id=order.pk, trigger="approve", actor=consumer, stage_id=stage.pk)


# --- 1. stage transitions: engine vs the same SQL through psycopg ------------------------------


def lifecycle_steps(order, manager, consumer) -> list[tuple[str, object, int]]:
    steps = []
    for stage in order.stages.order_by("position"):
        steps += [("start", manager, stage.pk), ("complete", manager, stage.pk), ("approve", consumer, stage.pk)]
    return steps


def engine_lifecycles(orders, manager, consumers, *, record: bool = False):
    """Fire every step of every order's lifecycle; with record, return each transition's statements."""
    from django.db import connection

    from bench.replay import Recorder
    from workflows.engine import fire

    recorded: list[list] = []
    count = 0
    t0 = time.perf_counter()
    for order, consumer in zip(orders, consumers, strict=True):
        for trigger, actor, stage_id in lifecycle_steps(order, manager, consumer):
            if record:
                rec = Recorder()
                with connection.execute_wrapper(rec):
                    fire(order_id=order.pk, trigger=trigger, actor=actor, stage_id=stage_id)
                recorded.append(rec.statements)
            else:
                fire(order_id=order.pk, trigger=trigger, actor=actor, stage_id=stage_id)
            count += 1
    return count, time.perf_counter() - t0, recorded


def replay_lifecycles(url: str, model_order, recorded: list[list], orders) -> tuple[int, float]:
    """The recorded statements of model_order's lifecycle, re-aimed at each order (its id, its
    stage ids and the ids of the rows the replay inserts swapped in) and issued with psycopg, one
    transaction per transition."""
    import psycopg
    from django.conf import settings

    from bench.replay import replay

    model_ids = [model_order.pk, *model_order.stages.order_by("position").values_list("pk", flat=True)]
    plans = []
    for order in orders:
        ids = [order.pk, *order.stages.order_by("position").values_list("pk", flat=True)]
        plans.append(dict(zip(model_ids, ids, strict=True)))
    count = 0
    # The product's own connection settings (prepared from the first reuse, each execution planned for its values:
    # config/settings/base.py); psycopg's defaults would give the replay generic plans the product no longer uses.
    options = settings.DATABASES["default"].get("OPTIONS", {})
    with psycopg.connect(url, autocommit=True, options=options.get("options", ""),
                         prepare_threshold=options.get("prepare_threshold", 5)) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        t0 = time.perf_counter()
        for mapping in plans:
            for statements in recorded:
                replay(conn, statements, mapping)
                count += 1
        elapsed = time.perf_counter() - t0
    return count, elapsed


# --- 3. queries per order-detail request --------------------------------------------------------


def detail_queries(order, token: str) -> tuple[int, int, int]:
    """Queries of one order-detail request built from the database (the detail cache emptied first)
    and of the next one (served from the cache), and the body's size."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    client = APIClient(HTTP_HOST="127.0.0.1")
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    client.get(f"/api/v1/orders/{order.pk}/")  # warm (spec cache, content types)
    cache.clear()
    with CaptureQueriesContext(connection) as built:
        response = client.get(f"/api/v1/orders/{order.pk}/")
    assert response.status_code == 200, response.content[:300]
    with CaptureQueriesContext(connection) as cached:
        again = client.get(f"/api/v1/orders/{order.pk}/")
    assert again.content == response.content
    return len(built.captured_queries), len(cached.captured_queries), len(response.content)


def checkin_queries(job) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    client = APIClient(HTTP_HOST="127.0.0.1")
    method, path, body, headers = checkin_request([job])(0)
    client.credentials(HTTP_AUTHORIZATION=headers["Authorization"])
    with CaptureQueriesContext(connection) as ctx:
        response = client.post(path, data=body, content_type="application/json")
    assert response.status_code == 201, response.content[:300]
    return len(ctx.captured_queries)


def record_request(send) -> dict:
    """The statements one request sent (but the token lookup: the replay endpoint authenticates for itself, as
    the ping does), with the response's status and body: what bench/urls.py's replay endpoint answers."""
    from django.db import connection

    from bench.replay import Recorder

    recorder = Recorder()
    with connection.execute_wrapper(recorder):
        response = send()
    assert response.status_code in (200, 201), response.content[:300]
    statements = [s for s in recorder.statements if '"authtoken_token"' not in s.sql]
    return {"statements": statements, "status": response.status_code, "body": response.content, "maps": {},
            "uuids": []}


def record_detail(job) -> dict:
    """One consumer's order detail built from the database (the detail cache emptied first)."""
    from django.core.cache import cache
    from rest_framework.test import APIClient

    _, _, _, _, order_id, token = job
    client = APIClient(HTTP_HOST="127.0.0.1")
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    cache.clear()
    return record_request(lambda: client.get(f"/api/v1/orders/{order_id}/"))


def record_checkin(job) -> dict:
    """One first check-in; the replay sends a fresh client_event_id in place of this one's."""
    from rest_framework.test import APIClient

    client = APIClient(HTTP_HOST="127.0.0.1")
    method, path, body, headers = checkin_request([job])(0)
    client.credentials(HTTP_AUTHORIZATION=headers["Authorization"])
    plan = record_request(lambda: client.post(path, data=body, content_type="application/json"))
    plan["uuids"] = [uuid.UUID(json.loads(body)["client_event_id"])]
    return plan


def write_replay_plans(model_job, detail_jobs, checkin_jobs, path: Path) -> tuple[int, int]:
    """Record the model job's order detail and check-in, pair its ids with those of each job the replay will
    be aimed at (before the check-in adds rows), and write the plans for the gunicorn workers (bench/urls.py).
    Returns the number of statements of each."""
    import pickle

    from bench.replay import order_id_map
    from workflows.models import ServiceOrder

    model = ServiceOrder.objects.get(pk=model_job[4])
    detail_maps = {job[4]: order_id_map(model, ServiceOrder.objects.get(pk=job[4])) for job in detail_jobs}
    checkin_maps = {job[0]: order_id_map(model, ServiceOrder.objects.get(pk=job[4])) for job in checkin_jobs}
    plans = {"detail": record_detail(model_job), "check-in": record_checkin(model_job)}
    plans["detail"]["maps"], plans["check-in"]["maps"] = detail_maps, checkin_maps
    path.write_bytes(pickle.dumps(plans))
    return len(plans["detail"]["statements"]), len(plans["check-in"]["statements"])


# --- 2. HTTP against gunicorn --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(url: str, port: int, workers: int, replay_plans: Path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "bench.settings",
           "BENCH_REPLAY_PLANS": str(replay_plans)}
    proc = subprocess.Popen(  # noqa: S603 (fixed argv)
        [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "-w", str(workers), "-b", f"127.0.0.1:{port}",
         "--log-level", "warning"],
        cwd=ROOT, env=env,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/bench/ping/")
            conn.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    sys.exit("gunicorn did not start")


@dataclass
class LoadResult:
    ok: int
    elapsed: float
    latencies: list[float]
    statuses: dict

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(q * len(data)))] * 1000


def load(port: int, make_request, *, total: int, duration: float, concurrency: int, ok_status: int) -> LoadResult:
    """`total` requests at most, `duration` seconds at most, from `concurrency` threads."""
    counter = itertools.count()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.perf_counter() + duration

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, seen = [], {}
        while True:
            i = next(counter)
            if i >= total or time.perf_counter() > deadline:
                break
            method, path, body, headers = make_request(i)
            t0 = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - t0
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
            seen[response.status] = seen.get(response.status, 0) + 1
            if response.status == ok_status:
                mine.append(elapsed)
        with lock:
            latencies.extend(mine)
            for k, v in seen.items():
                statuses[k] = statuses.get(k, 0) + v

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return LoadResult(ok=len(latencies), elapsed=time.perf_counter() - t0, latencies=latencies, statuses=statuses)


def get_request(path: str, token: str):
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    return lambda i: ("GET", path, None, headers)


def first_detail_request(jobs, prefix: str = "/api/v1/orders/"):
    """Each request reads another order, once: the detail is built, not served from the cache. With
    prefix="/bench/replay/detail/": the statements of a detail built, replayed for each order (bench/urls.py)."""
    def make(i):
        _, _, _, _, order_id, token = jobs[i]
        return "GET", f"{prefix}{order_id}/", None, {"Authorization": f"Token {token}", "Accept": "application/json"}

    return make


def replay_checkin_request(jobs):
    """The statements of a first check-in, replayed for each booked visit once (bench/urls.py)."""
    def make(i):
        job_id, token, *_ = jobs[i]
        return "POST", f"/bench/replay/check-in/{job_id}/", b"", {"Authorization": f"Token {token}",
                                                                  "Accept": "application/json"}

    return make


def checkin_request(jobs):
    def make(i):
        job_id, token, lat, lng, _, _ = jobs[i]
        body = json.dumps({
            "client_event_id": str(uuid.uuid4()),
            "recorded_at": datetime.now(UTC).isoformat(),
            "latitude": lat, "longitude": lng, "accuracy_m": 8,
        })
        headers = {"Authorization": f"Token {token}", "Content-Type": "application/json",
                   "Accept": "application/json"}
        return "POST", f"/api/v1/technician/jobs/{job_id}/check-in/", body, headers

    return make


def drop_bench_queue() -> None:
    """Delete the tasks the run queued (bench/settings.py routes them to the bench's own queue)."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=2)
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    client.delete(queue, f"_kombu.binding.{queue}")


# --- the table -------------------------------------------------------------------------------------


def row(figure, value, ceiling, ratio, target, ok):
    return {"figure": figure, "value": value, "ceiling": ceiling, "ratio": ratio, "target": target,
            "result": "-" if ok is None else ("pass" if ok else "FAIL")}


def print_table(rows) -> None:
    heads = ["figure", "value", "ceiling", "ratio", "target", "result"]
    widths = {h: max(len(h), *(len(str(r[h])) for r in rows)) for h in heads}
    line = " | ".join(h.ljust(widths[h]) for h in heads)
    print("| " + line + " |")
    print("|-" + "-|-".join("-" * widths[h] for h in heads) + "-|")
    for r in rows:
        print("| " + " | ".join(str(r[h]).ljust(widths[h]) for h in heads) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100, help="4-stage orders per transition pass (12 each)")
    parser.add_argument("--jobs", type=int, default=300, help="booked visits for the check-in run")
    parser.add_argument("--requests", type=int, default=3000, help="most requests per read endpoint")
    parser.add_argument("--duration", type=float, default=20.0, help="most seconds per HTTP run")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--technicians", type=int, default=12)
    args = parser.parse_args()

    url = os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgres"):
        sys.exit("DATABASE_URL must point at PostgreSQL (a database whose name starts with 'bench')")
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    started = time.perf_counter()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"database {urlsplit(url).path.lstrip('/')}: recreate and migrate", flush=True)
    recreate_database(url)
    import django

    django.setup()
    drop_bench_queue()  # also checks that the broker answers
    from django.core.cache import cache

    cache.clear()  # the bench's own cache database: no detail cached by an earlier run (ids repeat)
    migrate()

    print("data: merchant, store, technicians, templates (wardrobe, 4 and 40 stages)", flush=True)
    world = build_world(args.technicians, n_consumers=20)
    consumers = world.consumers
    n = args.orders
    engine_orders = [new_order(world, world.linear4, consumers[i % len(consumers)]) for i in range(n + 1)]
    raw_orders = [new_order(world, world.linear4, consumers[i % len(consumers)]) for i in range(n)]
    print(f"data: {2 * args.jobs} wardrobe orders with a booked measuring visit", flush=True)
    # The product's check-ins take the first half, the replay of a check-in's statements the second; the last
    # two are recorded (the replays' model) and counted.
    jobs = build_checkin_jobs(world, 2 * args.jobs + 2)
    jobs, replay_jobs, model_job, probe_job = jobs[:args.jobs], jobs[args.jobs:-2], jobs[-2], jobs[-1]
    detail = build_detail_order(world)
    q_orders = {}
    for stages, template in ((4, world.linear4), (40, world.linear40)):
        order = new_order(world, template, consumers[1])
        advance(order, consumers[1], world.manager, 2)
        q_orders[stages] = order
    print(f"data built in {time.perf_counter() - started:.0f} s", flush=True)

    # 1. transitions
    model = engine_orders[0]
    _, _, recorded = engine_lifecycles([model], world.manager, [model.consumer], record=True)
    per_transition = [len(r) for r in recorded]
    e_count, e_time, _ = engine_lifecycles(engine_orders[1:], world.manager, [o.consumer for o in engine_orders[1:]])
    r_count, r_time = replay_lifecycles(url, model, recorded, raw_orders)
    engine_tps, raw_tps = e_count / e_time, r_count / r_time
    from workflows.models import ServiceOrder

    done = ServiceOrder.objects.filter(pk__in=[o.pk for o in raw_orders], state="completed").count()
    assert done == len(raw_orders), f"replay left {len(raw_orders) - done} orders unfinished"
    print(f"transitions: engine {e_count} in {e_time:.2f} s, psycopg replay {r_count} in {r_time:.2f} s; "
          f"statements per transition {min(per_transition)}-{max(per_transition)}", flush=True)

    # 3. queries per order detail
    consumer_token = world.tokens[consumers[1].pk]
    q4, q4_cached, size4 = detail_queries(q_orders[4], consumer_token)
    q40, q40_cached, size40 = detail_queries(q_orders[40], consumer_token)
    q_ref, q_ref_cached, _ = detail_queries(detail, world.tokens[detail.consumer_id])
    q_checkin = checkin_queries(probe_job)
    replay_plans = Path(tempfile.mkdtemp(prefix="bench-")) / "replay-plans.pickle"
    n_detail_sql, n_checkin_sql = write_replay_plans(model_job, jobs, replay_jobs, replay_plans)

    # 2. HTTP
    from django.db import connections

    connections.close_all()
    port = free_port()
    proc = start_gunicorn(url, port, args.workers, replay_plans)
    try:
        detail_token = world.tokens[detail.consumer_id]
        common = {"duration": args.duration, "concurrency": args.concurrency, "ok_status": 200}
        # warm every worker (imports, spec cache, connections)
        load(port, get_request(f"/api/v1/orders/{detail.pk}/", detail_token), total=100, **common)
        load(port, get_request("/bench/ping/", detail_token), total=100, **common)
        # The ping runs between the measured endpoints: each figure's ceiling is the mean of the pings just
        # before and just after it, so a machine that drifts during the run moves both alike.
        def ping_run():
            return load(port, get_request("/bench/ping/", detail_token), total=args.requests, **common)

        pings = [ping_run()]
        order_detail = load(port, get_request(f"/api/v1/orders/{detail.pk}/", detail_token),
                            total=args.requests, **common)
        pings.append(ping_run())
        detail_cold = load(port, first_detail_request(jobs), total=len(jobs), **common)
        pings.append(ping_run())
        detail_sql = load(port, first_detail_request(jobs, "/bench/replay/detail/"), total=len(jobs), **common)
        pings.append(ping_run())
        checkin = load(port, checkin_request(jobs), total=len(jobs),
                       **{**common, "ok_status": 201})
        pings.append(ping_run())
        checkin_sql = load(port, replay_checkin_request(replay_jobs), total=len(replay_jobs),
                           **{**common, "ok_status": 201})
        pings.append(ping_run())
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    from workflows.models import Appointment

    replayed = Appointment.objects.filter(pk__in=[job[0] for job in replay_jobs], state="checked_in").count()
    assert replayed == checkin_sql.ok == len(replay_jobs), f"the check-in replay checked in {replayed} visits"
    ping = pings[0]
    for name, res in (*((f"ping {i + 1}", p) for i, p in enumerate(pings)), ("order detail", order_detail),
                      ("order detail, first reads", detail_cold), ("order detail's SQL replayed", detail_sql),
                      ("check-in", checkin), ("check-in's SQL replayed", checkin_sql)):
        print(f"http {name}: {res.ok} ok in {res.elapsed:.2f} s, statuses {res.statuses}", flush=True)
    # detail, first reads, their SQL replayed, check-in, its SQL replayed
    ceiling = [(a.rps + b.rps) / 2 for a, b in zip(pings[:-1], pings[1:], strict=True)]

    rows = [
        row("stage transitions/s (engine.fire vs psycopg replay)", f"{engine_tps:.0f}", f"{raw_tps:.0f}",
            f"{engine_tps / raw_tps:.2f}", ">= 0.50", engine_tps / raw_tps >= 0.5),
        row("order detail req/s, same order again (vs /bench/ping/)", f"{order_detail.rps:.0f}", f"{ceiling[0]:.0f}",
            f"{order_detail.rps / ceiling[0]:.2f}", ">= 0.50", order_detail.rps / ceiling[0] >= 0.5),
        row("order detail p50 / p99 ms", f"{order_detail.pct(.5):.1f} / {order_detail.pct(.99):.1f}",
            f"{ping.pct(.5):.1f} / {ping.pct(.99):.1f}", "", "", None),
        row("order detail req/s, each order once (vs /bench/ping/)", f"{detail_cold.rps:.0f}", f"{ceiling[1]:.0f}",
            f"{detail_cold.rps / ceiling[1]:.2f}", ">= 0.50", detail_cold.rps / ceiling[1] >= 0.5),
        row("order detail (each once) p50 / p99 ms", f"{detail_cold.pct(.5):.1f} / {detail_cold.pct(.99):.1f}",
            f"{ping.pct(.5):.1f} / {ping.pct(.99):.1f}", "", "", None),
        row("  its SQL alone, replayed (vs /bench/ping/)", f"{detail_sql.rps:.0f}", f"{ceiling[2]:.0f}",
            f"{detail_sql.rps / ceiling[2]:.2f}", "", None),
        row("  the product vs its SQL alone", f"{detail_cold.rps:.0f}", f"{detail_sql.rps:.0f}",
            f"{detail_cold.rps / detail_sql.rps:.2f}", "", None),
        row("check-in req/s (vs /bench/ping/)", f"{checkin.rps:.0f}", f"{ceiling[3]:.0f}",
            f"{checkin.rps / ceiling[3]:.2f}", ">= 0.50", checkin.rps / ceiling[3] >= 0.5),
        row("check-in p50 / p99 ms", f"{checkin.pct(.5):.1f} / {checkin.pct(.99):.1f}",
            f"{ping.pct(.5):.1f} / {ping.pct(.99):.1f}", "", "", None),
        row("  its SQL alone, replayed (vs /bench/ping/)", f"{checkin_sql.rps:.0f}", f"{ceiling[4]:.0f}",
            f"{checkin_sql.rps / ceiling[4]:.2f}", "", None),
        row("  its SQL alone p50 / p99 ms", f"{checkin_sql.pct(.5):.1f} / {checkin_sql.pct(.99):.1f}",
            f"{ping.pct(.5):.1f} / {ping.pct(.99):.1f}", "", "", None),
        row("  the product vs its SQL alone", f"{checkin.rps:.0f}", f"{checkin_sql.rps:.0f}",
            f"{checkin.rps / checkin_sql.rps:.2f}", "", None),
        row("queries per order detail (40 vs 4 stages)", str(q40), str(q4), f"{q40 / q4:.2f}", "equal", q40 == q4),
    ]
    print()
    print(f"statements per engine transition: {min(per_transition)}-{max(per_transition)} "
          f"(mean {statistics.mean(per_transition):.1f}); order detail queries, wardrobe order: {q_ref} "
          f"(from the cache: {q_ref_cached}; 4/40 stages from the cache: {q4_cached}/{q40_cached}); "
          f"detail body {size4} B (4 stages), {size40} B (40 stages); queries per check-in: {q_checkin}; "
          f"replayed statements (without the token's): order detail {n_detail_sql}, check-in {n_checkin_sql}")
    import psycopg

    print(f"psycopg {psycopg.__version__} ({psycopg.pq.__impl__}), "
          f"PostgreSQL {psycopg.pq.version_pretty(psycopg.pq.version())} client library")
    print(f"errors: detail {sum(v for k, v in order_detail.statuses.items() if k != 200)}, "
          f"detail first reads {sum(v for k, v in detail_cold.statuses.items() if k != 200)}, "
          f"check-in {sum(v for k, v in checkin.statuses.items() if k != 201)}, "
          f"replays {sum(v for r in (detail_sql, checkin_sql) for k, v in r.statuses.items() if k not in (200, 201))}, "
          f"ping {sum(v for p in pings for k, v in p.statuses.items() if k != 200)}")
    print("ping req/s: " + ", ".join(f"{p.rps:.0f}" for p in pings)
          + " (each figure's ceiling is the mean of the pings around it)")
    print()
    print_table(rows)
    drop_bench_queue()
    print(f"\ntotal {time.perf_counter() - started:.0f} s, load average at the end {os.getloadavg()[0]:.1f} "
          "(other processes on the machine share its CPUs)")
    return 0 if all(r["result"] != "FAIL" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
