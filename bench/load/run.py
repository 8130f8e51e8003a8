"""The load test: a realistic mix of requests against the whole service on loopback, for a fixed number of
requests, with Locust. Not a test of the suite; its short form (--smoke) is CI's smoke run.

    .venv/bin/python bench/load/run.py                  # 6,000 requests, 8 users, the figures in docs/performance.md
    .venv/bin/python bench/load/run.py --smoke          # 300 requests: fails on any error, never on timing

It (re)creates the database in DATABASE_URL (default postgres://postgres@127.0.0.1:5432/bench_wload; it refuses a
name that does not start with "bench"), migrates it and builds the data with the product's services
(bench/load/data.py); empties the service's queues in LOAD_CELERY_BROKER_URL (default redis://127.0.0.1:6379/11)
and the whole cache database LOAD_CACHE_URL (default .../12: give it one of its own); starts a Celery worker per
queue (payments, notifications, webhooks, periodic: README, "Workers and queues") and gunicorn (config.wsgi, sync
workers) with bench/load/settings.py; then runs Locust headless (bench/load/locustfile.py) until every request of
the plan has its answer. The mix: consumers reading orders and tracking pages 60 %, technicians working visits
20 %, the payment provider's signed notifications 10 %, store staff assigning, booking, submitting and
cancelling 10 %.

After the run it waits for the workers to empty their queues and checks what the requests were for happened:
payments captured, cancelled orders refunded, visits given, booked and submitted as asked, no notification
failed. It prints a table per kind of request (count, throughput, p50/p95/p99, errors) from Locust's JSON
statistics, writes them (and Locust's CSV files) to --out, and exits 1 on any error: a request answered otherwise
than expected, or an effect missing. Timings never fail it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from bench.common import recreate_database  # noqa: E402 (needs the path above)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_wload"
QUEUES = {"payments": 1, "notifications": 1, "webhooks": 1, "periodic,celery": 1}  # queue(s): processes
PERCENTILES = (0.5, 0.95, 0.99)


def log(message: str) -> None:
    print(f"[load {time.strftime('%H:%M:%S', time.gmtime())} UTC] {message}", flush=True)


# --- the processes ----------------------------------------------------------------------------------------


def service_env(url: str, media: Path) -> dict:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "bench.load.settings",
           "MEDIA_ROOT": str(media), "PYTHONPATH": str(ROOT)}
    env.pop("LOAD_EAGER", None)
    return env


def start_workers(env: dict, logs: Path) -> list[tuple[subprocess.Popen, Path]]:
    workers = []
    for queues, processes in QUEUES.items():
        name = queues.split(",")[0]
        path = logs / f"worker-{name}.log"
        with open(path, "w") as fh:
            proc = subprocess.Popen(  # noqa: S603 (our venv's celery, fixed arguments)
                [str(ROOT / ".venv/bin/celery"), "-A", "config", "worker", "-Q", queues, "-c", str(processes),
                 "-n", f"load-{name}@%h", "--without-heartbeat", "--without-gossip", "--without-mingle",
                 "-l", "info"],
                cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        workers.append((proc, path))
    return workers


def start_gunicorn(env: dict, port: int, workers: int, logs: Path) -> subprocess.Popen:
    with open(logs / "gunicorn.log", "w") as fh:
        return subprocess.Popen(  # noqa: S603 (our venv's gunicorn, fixed arguments)
            [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "-w", str(workers), "-b", f"127.0.0.1:{port}",
             "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def answers(port: int) -> bool:
    import http.client

    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/api/v1/orders/")
        return conn.getresponse().status == 401
    except OSError:
        return False


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=5)


def queue_names() -> list[str]:
    return [q for queues in QUEUES for q in queues.split(",")]


def empty_queues(broker_url: str) -> None:
    """Drop what an earlier run left in the service's queues (and nothing else of that Redis database)."""
    import redis

    client = redis.Redis.from_url(broker_url, socket_connect_timeout=2)
    client.delete(*queue_names(), *(f"_kombu.binding.{q}" for q in queue_names()), "unacked", "unacked_index")


def queued_messages(broker_url: str) -> int:
    """Messages waiting in, or taken but not acknowledged from, the service's queues."""
    import redis

    client = redis.Redis.from_url(broker_url)
    return sum(client.llen(q) for q in queue_names()) + client.hlen("unacked")


# --- the statistics ---------------------------------------------------------------------------------------


def percentile(buckets: dict[int, int], q: float) -> float:
    """Locust's own way: the smallest recorded (rounded) time with at least q of the requests at or below it."""
    total = sum(buckets.values())
    if not total:
        return float("nan")
    need, seen = math.ceil(q * total), 0
    for ms in sorted(buckets):
        seen += buckets[ms]
        if seen >= need:
            return ms
    return max(buckets)


def summarise(stats: list[dict]) -> tuple[list[dict], list[dict], dict]:
    """Per kind (consumer, technician, provider, staff), per request name, and all together."""
    start = min(s["start_time"] for s in stats if s["num_requests"])
    end = max(s["last_request_timestamp"] for s in stats if s["num_requests"])
    seconds = max(end - start, 1e-9)

    def row(label: str, entries: list[dict]) -> dict:
        buckets: dict[int, int] = {}
        for e in entries:
            for ms, n in e["response_times"].items():
                buckets[int(float(ms))] = buckets.get(int(float(ms)), 0) + n
        count = sum(e["num_requests"] for e in entries)
        return {"name": label, "requests": count, "errors": sum(e["num_failures"] for e in entries),
                "rps": round(count / seconds, 1),
                **{f"p{round(q * 100)}": percentile(buckets, q) for q in PERCENTILES}}

    kinds: dict[str, list[dict]] = {}
    for s in stats:
        kinds.setdefault(s["name"].split(":", 1)[0], []).append(s)
    per_kind = [row(kind, entries) for kind, entries in sorted(kinds.items(), key=lambda kv: -sum(
        e["num_requests"] for e in kv[1]))]
    per_name = [row(s["name"], [s]) for s in sorted(stats, key=lambda s: s["name"])]
    return per_kind, per_name, {**row("all", stats), "seconds": round(seconds, 1)}


def table(rows: list[dict], title: str) -> str:
    lines = [f"| {title} | requests | req/s | p50 ms | p95 ms | p99 ms | errors |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['name']} | {r['requests']} | {r['rps']} | {r['p50']} | {r['p95']} | {r['p99']} | {r['errors']} |"
              for r in rows]
    return "\n".join(lines)


# --- what the requests were for happened ---------------------------------------------------------------------


def effects(plan: dict) -> list[str]:
    """What is missing of what the run's writes were for (empty: everything happened)."""
    from notifications.models import Notification
    from payments.models import Payment, Refund
    from workflows.models import Appointment, ServiceOrder, StageInstance

    problems = []
    delivered = plan["counts"]["provider: payment notification"]
    confirmed = plan["payments"][:delivered - delivered // 10]
    captured = Payment.objects.filter(reference__in=[p["reference"] for p in confirmed], status="captured").count()
    if captured != len(confirmed):
        problems.append(f"payments captured {captured} of {len(confirmed)} confirmed")
    cancelled = [t["order"] for t in plan["cancel"]]
    if (n := ServiceOrder.objects.filter(pk__in=cancelled, state="cancelled").count()) != len(cancelled):
        problems.append(f"orders cancelled {n} of {len(cancelled)}")
    refunded = Refund.objects.filter(payment__order_id__in=cancelled, status="succeeded").count()
    if refunded != len(cancelled):
        statuses = list(Refund.objects.filter(payment__order_id__in=cancelled).values_list("status", flat=True))
        problems.append(f"deposits refunded {refunded} of {len(cancelled)} cancelled orders (refunds: {statuses})")
    given = sum(Appointment.objects.filter(pk=t["appointment"], technician_id=t["technician"]).exists()
                for t in plan["assign"])
    if given != len(plan["assign"]):
        problems.append(f"visits given to the technician asked {given} of {len(plan['assign'])}")
    booked = StageInstance.objects.filter(pk__in=[t["stage"] for t in plan["book"]], state="scheduled").count()
    if booked != len(plan["book"]):
        problems.append(f"visits booked {booked} of {len(plan['book'])}")
    submitted = StageInstance.objects.filter(pk__in=[t["stage"] for t in plan["submit"]],
                                             state="awaiting_approval").count()
    if submitted != len(plan["submit"]):
        problems.append(f"designs submitted {submitted} of {len(plan['submit'])}")
    if failed := Notification.objects.filter(state="failed").count():
        problems.append(f"{failed} notifications failed")
    return problems


def notification_states() -> dict:
    from django.db.models import Count

    from notifications.models import Notification

    return dict(Notification.objects.values_list("state").annotate(n=Count("pk")).order_by("state"))


# --- the run --------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--users", type=int, default=8, help="Locust users (concurrent clients)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--technicians", type=int, default=30)
    parser.add_argument("--consumers", type=int, default=200)
    parser.add_argument("--smoke", action="store_true", help="300 requests, 4 users, 2 gunicorn workers")
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "load")
    args = parser.parse_args()
    if args.smoke:
        args.requests, args.users, args.workers, args.consumers = 300, 4, 2, 40
    started = time.monotonic()
    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgres"):
        sys.exit("DATABASE_URL must name a PostgreSQL database whose name starts with 'bench'")
    args.out.mkdir(parents=True, exist_ok=True)
    media = Path(tempfile.mkdtemp(prefix="load-media-"))
    log(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        f"{args.requests} requests, {args.users} users, {args.workers} gunicorn workers; "
        f"database {urlsplit(url).path.lstrip('/')}")
    recreate_database(url)
    os.environ.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="bench.load.settings", MEDIA_ROOT=str(media),
                      LOAD_EAGER="1")
    import django

    django.setup()
    from django.conf import settings
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connections

    from bench.load.data import Builder
    from bench.run import free_port

    # The data's people never log in (they hold tokens): hash their passwords the fast way, in this process only.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    empty_queues(settings.CELERY_BROKER_URL)
    cache.clear()  # the detail cache of an earlier run's orders (ids start again in a new database)
    call_command("migrate", verbosity=0, interactive=False)
    log("migrated; building the data with the product's services")
    plan = Builder(technicians=args.technicians, consumers=args.consumers, log=log).build(args.requests, args.users)
    plan_path = args.out / "plan.json"
    plan_path.write_text(json.dumps(plan.as_dict()))
    plan = plan.as_dict()
    built = time.monotonic()
    log(f"data built in {built - started:.0f} s: {len(plan['readers'])} orders")
    connections.close_all()

    env = service_env(url, media)
    # A timeout (scripts/load_smoke.sh) sends SIGTERM: raise, so the finally below stops the server and workers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped (SIGTERM)"))
    workers = start_workers(env, args.out)
    port = free_port()
    server = start_gunicorn(env, port, args.workers, args.out)
    try:
        wait_until(lambda: answers(port), 60, "gunicorn")
        wait_until(lambda: all(" ready." in path.read_text() for _, path in workers), 60, "the Celery workers")
        log(f"gunicorn on 127.0.0.1:{port} and {len(workers)} Celery workers ready; Locust starts")
        t0 = time.monotonic()
        locust = subprocess.run(  # noqa: S603 (our venv's locust, fixed arguments)
            [str(ROOT / ".venv/bin/locust"), "-f", str(ROOT / "bench/load/locustfile.py"), "--headless",
             "-u", str(args.users), "-r", str(args.users), "-H", f"http://127.0.0.1:{port}", "--plan", str(plan_path),
             "--csv", str(args.out / "locust"), "--json-file", str(args.out / "locust"), "--only-summary",
             "--loglevel", "WARNING", "--stop-timeout", "30"],
            cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "bench.load.settings"}, timeout=3600,
            capture_output=True, text=True)
        locust_seconds = time.monotonic() - t0
        (args.out / "locust.log").write_text(locust.stdout + locust.stderr)
        wait_until(lambda: queued_messages(settings.CELERY_BROKER_URL) == 0, 300, "the workers to empty the queues")
        drained = time.monotonic() - t0 - locust_seconds
    finally:
        stop(server)
        for proc, _ in workers:
            stop(proc)

    stats = json.loads((args.out / "locust.json").read_text())
    per_kind, per_name, total = summarise(stats)
    missing = effects(plan)
    report = {"date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "cpus": os.cpu_count(),
              "load_average_end": round(os.getloadavg()[0], 1), "requests": args.requests, "users": args.users,
              "gunicorn_workers": args.workers, "total": total, "per_kind": per_kind, "per_name": per_name,
              "locust_exit": locust.returncode, "effects_missing": missing, "notifications": notification_states(),
              "seconds": {"data": round(built - started), "locust": round(locust_seconds, 1),
                          "queues_emptied_after": round(drained, 1), "all": round(time.monotonic() - started)}}
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    print()
    print(table(per_kind, "kind"))
    print()
    print(table(per_name, "request"))
    print()
    print(f"all: {total['requests']} requests in {total['seconds']} s = {total['rps']} req/s, p50/p95/p99 "
          f"{total['p50']}/{total['p95']}/{total['p99']} ms, errors {total['errors']}; queues emptied "
          f"{drained:.1f} s after the last answer; notifications by state {report['notifications']}")
    print(f"whole run {report['seconds']['all']} s (data {report['seconds']['data']} s, Locust "
          f"{locust_seconds:.0f} s); load average at the end {report['load_average_end']} (the machine is shared: "
          "absolute figures only with it)")
    errors = total["errors"] + len(missing) + (locust.returncode != 0 and total["errors"] == 0)
    for problem in missing:
        print(f"MISSING: {problem}")
    if total["requests"] != args.requests:
        print(f"ERROR: {total['requests']} requests answered of {args.requests}")
        errors += 1
    if locust.returncode != 0:
        print(f"Locust exited {locust.returncode}; its output is in {args.out / 'locust.log'}")
        for line in (args.out / "locust_failures.csv").read_text().splitlines()[:20]:
            print(f"  {line}")
    print("FAILED: errors above" if errors else "OK: no errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
