"""Where the time of the three hot paths goes (not a test): the engine's transitions, a built order detail and a
technician's check-in, each run many times in-process with py-spy sampling it, and the statements each sends.

    .venv/bin/python bench/profile_hot_paths.py [--transitions 100] [--reads 200] [--check-ins 200]

It (re)creates DATABASE_URL (default postgres://postgres@127.0.0.1:5432/bench_wprofile; only a name starting with
"bench"), builds bench/run.py's data (its settings, bench/settings.py: broker BENCH_CELERY_BROKER_URL, shared cache
BENCH_CACHE_URL), then for each path:

- the statements one of them sends, as Django counts them (CaptureQueriesContext, which
  django_assert_max_num_queries uses too: since Django 4.2 the BEGIN and COMMIT of an atomic block count, and so do
  SAVEPOINT and RELEASE), written in full to --out;
- py-spy (sampling at 250 Hz, attached to this very process) over the whole series: the flame graph (SVG) and its
  raw stacks in --out, and printed: the share of samples per area (by the innermost frame's package: the
  database driver, Django compiling SQL, building model instances, the broker, DRF, our code...) and the functions
  of our code with the largest inclusive share.

As in bench/run.py: transitions are `workflows.engine.fire` (start, complete, approve of each stage of 4-stage
approval orders); the order detail is the consumer's GET of a wardrobe order with a booked visit, the detail cache
emptied before each; the check-in is the technician's POST of a first check-in to a booked visit (which also starts
the stage); both through Django's test client with token authentication, as the server would run them minus
gunicorn.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import recreate_database  # noqa: E402 (needs the path above)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_wprofile"
OUR_APPS = ("core", "tenancy", "workflows", "payments", "vouchers", "fieldwork", "notifications", "insights")
# (area, pattern on the innermost frame's file as py-spy names it, relative to sys.path), first match wins.
AREAS = [
    ("database driver (psycopg: sending, waiting for PostgreSQL, reading rows)", r"^psycopg"),
    ("broker (Celery publish, kombu, redis-py)", r"^(celery|kombu|redis|vine|amqp)/"),
    ("Django compiling SQL (sql/compiler, query, where, expressions, lookups)",
     r"^django/db/models/(sql/|expressions|lookups|functions/|aggregates)"),
    ("Django building model instances and querysets (models/base, query, fields)",
     r"^django/db/models/(base|query|query_utils|fields/|manager|deletion|utils)"),
    ("Django database layer (backends, transactions, utils)", r"^django/db/"),
    ("the transitions library", r"^transitions/"),
    ("DRF (authentication, permissions, views, renderers)", r"^rest_framework/"),
    ("Django other (middleware, signals, urls, http, templates, cache)", r"^django/"),
    ("our code", r"^(" + "|".join(OUR_APPS) + r")/"),
]


def log(message: str) -> None:
    print(message, flush=True)


class Sampler:
    """py-spy attached to this process for the length of a `with` block."""

    def __init__(self, out: Path, name: str):
        self.raw, self.svg = out / f"{name}.txt", out / f"{name}.svg"

    def __enter__(self):
        spy = str(ROOT / ".venv/bin/py-spy")
        args = ["record", "--pid", str(os.getpid()), "--rate", "250", "--nonblocking"]
        self.procs = [subprocess.Popen([spy, *args, "--format", fmt, "-o", str(path)],  # noqa: S603
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                      for fmt, path in (("raw", self.raw), ("flamegraph", self.svg))]
        time.sleep(1.5)  # attached
        return self

    def __exit__(self, *exc):
        for proc in self.procs:
            proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            proc.wait(timeout=60)


def summarise(raw: Path, top: int = 15) -> tuple[list[tuple[str, float]], list[tuple[str, float]], int]:
    """(share of samples per area, inclusive share of our functions, samples) from py-spy's raw stacks of the
    main thread (frames `func (file:line)`, outermost first)."""
    areas: Counter = Counter()
    ours: Counter = Counter()
    total = 0
    frame = re.compile(r"(?P<func>[^;]+?) \((?P<file>[^;]+?)(?::\d+)?\)")
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or "bench/profile_hot_paths.py" not in stack:
            continue  # other threads (py-spy samples them all)
        n = int(count)
        frames = [(m["func"], m["file"]) for m in frame.finditer(stack)]
        if not frames:
            continue
        total += n
        leaf_file = frames[-1][1]
        area = next((name for name, pattern in AREAS if re.search(pattern, leaf_file)),
                    "Python's standard library and the rest")
        if area.startswith("broker") and not any(re.match(r"(celery|kombu)/", f) for _, f in frames):
            area = "the shared cache (Django's Redis cache, redis-py)"
        areas[area] += n
        seen = set()
        for func, file in frames:
            if re.match(r"(" + "|".join(OUR_APPS) + r")/", file):
                key = f"{file}:{func}"
                if key not in seen:
                    seen.add(key)
                    ours[key] += n
    share = [(name, n / total) for name, n in areas.most_common()] if total else []
    return share, [(name, n / total) for name, n in ours.most_common(top)] if total else [], total


def statements(capture) -> list[str]:
    return [" ".join(q["sql"].split()) for q in capture.captured_queries]


def short(sql: str) -> str:
    """A statement in a line: its verb and tables, its WHERE's first columns."""
    tables = list(dict.fromkeys(re.findall(r'(?:FROM|JOIN|INTO|UPDATE) "(\w+)"', sql)))
    verb = sql.split()[0].upper()
    if verb in ("SAVEPOINT", "RELEASE", "ROLLBACK"):
        return verb
    lock = " FOR UPDATE" if "FOR UPDATE" in sql else ""
    return f"{verb} {', '.join(tables)}{lock}"


def report_statements(name: str, sql: list[str], out: Path) -> None:
    (out / f"{name}-statements.sql").write_text("\n\n".join(sql) + "\n")
    control = Counter(s.split()[0].upper() for s in sql if s.split()[0].upper() in
                      ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK"))
    log(f"  {len(sql)} statements ({', '.join(f'{n} {verb}' for verb, n in control.items()) or 'no BEGIN/COMMIT'}):")
    for i, s in enumerate(sql, 1):
        log(f"    {i:>2}. {short(s)}")


def report_profile(name: str, seconds: float, n: int, sampler: Sampler) -> None:
    share, ours, samples = summarise(sampler.raw)
    log(f"  {n} in {seconds:.2f} s = {seconds / n * 1000:.2f} ms each; py-spy {samples} samples "
        f"({sampler.svg.name}); by area (innermost frame):")
    for area, s in share:
        log(f"    {s * 100:5.1f} %  {area}")
    log("  our functions, inclusive:")
    for func, s in ours:
        log(f"    {s * 100:5.1f} %  {func}")


def profile_series(name: str, one, items: list, out: Path) -> None:
    """`one(item)` for every item, under py-spy."""
    with Sampler(out, name) as sampler:
        t0 = time.perf_counter()
        for item in items:
            one(item)
        seconds = time.perf_counter() - t0
    report_profile(name, seconds, len(items), sampler)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transitions", type=int, default=100, help="4-stage orders (12 transitions each)")
    parser.add_argument("--reads", type=int, default=200, help="order details built")
    parser.add_argument("--check-ins", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "profile")
    args = parser.parse_args()
    url = os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="profile-media-"))  # the demo driver's photos
    args.out.mkdir(parents=True, exist_ok=True)
    log(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}; database {urlsplit(url).path.lstrip('/')}")
    recreate_database(url)
    import django

    django.setup()
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from bench import run as bench

    bench.drop_bench_queue()
    cache.clear()
    bench.migrate()
    world = bench.build_world(12, n_consumers=20)
    consumers = world.consumers
    orders = [bench.new_order(world, world.linear4, consumers[i % len(consumers)])
              for i in range(args.transitions + 1)]
    jobs = bench.build_checkin_jobs(world, args.reads + args.check_ins + 2)
    detail_jobs, checkin_jobs = jobs[:args.reads + 1], jobs[args.reads + 1:]
    log(f"data built: {len(orders)} 4-stage orders, {len(jobs)} wardrobe orders with a booked visit")

    # 1. transitions
    log("\n== stage transitions (workflows.engine.fire: start, complete, approve) ==")
    from workflows.engine import fire

    counts = []
    for i, (trigger, actor, stage_id) in enumerate(bench.lifecycle_steps(orders[0], world.manager,
                                                                         orders[0].consumer)):
        with CaptureQueriesContext(connection) as capture:
            fire(order_id=orders[0].pk, trigger=trigger, actor=actor, stage_id=stage_id)
        counts.append(len(capture.captured_queries))
        if i < 3:
            log(f" {trigger} (stage 1):")
            report_statements(f"transition-{trigger}", statements(capture), args.out)
    log(f"  per transition over the 4-stage lifecycle: {counts} (mean {sum(counts) / len(counts):.1f}; "
        f"without BEGIN and COMMIT {sum(counts) / len(counts) - 2:.1f})")
    with Sampler(args.out, "transitions") as sampler:
        t0 = time.perf_counter()
        n, _, _ = bench.engine_lifecycles(orders[1:], world.manager, [o.consumer for o in orders[1:]])
        seconds = time.perf_counter() - t0
    report_profile("transitions", seconds, n, sampler)

    # 2. order detail, built
    log("\n== order detail built (GET /api/v1/orders/{id}/, consumer, detail cache emptied) ==")

    def read(job) -> None:
        client = APIClient(HTTP_HOST="127.0.0.1")
        client.credentials(HTTP_AUTHORIZATION=f"Token {job[5]}")
        cache.clear()
        response = client.get(f"/api/v1/orders/{job[4]}/")
        assert response.status_code == 200, response.content[:300]

    with CaptureQueriesContext(connection) as capture:
        read(detail_jobs[0])
    log(" a wardrobe order with its measuring visit booked (the series below):")
    report_statements("detail", statements(capture), args.out)
    history = bench.build_detail_order(world)
    with CaptureQueriesContext(connection) as capture:
        read((None, None, None, None, history.pk, world.tokens[history.consumer_id]))
    log(" a wardrobe order with history (deposit paid, visit done, photos, design awaiting approval):")
    report_statements("detail-history", statements(capture), args.out)
    profile_series("detail", read, detail_jobs[1:], args.out)

    # 3. check-in
    log("\n== check-in (POST /api/v1/technician/jobs/{id}/check-in/, first check-in, starts the stage) ==")

    def check_in(job) -> None:
        client = APIClient(HTTP_HOST="127.0.0.1")
        method, path, body, headers = bench.checkin_request([job])(0)
        client.credentials(HTTP_AUTHORIZATION=headers["Authorization"])
        response = client.post(path, data=body, content_type="application/json")
        assert response.status_code == 201, response.content[:300]

    with CaptureQueriesContext(connection) as capture:
        check_in(checkin_jobs[0])
    report_statements("check-in", statements(capture), args.out)
    profile_series("check-in", check_in, checkin_jobs[1:], args.out)
    bench.drop_bench_queue()
    log(f"\nload average at the end {os.getloadavg()[0]:.1f}; statements and flame graphs in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
