"""How much SQL one order costs over its life (not a test): the reference wardrobe order driven from creation to
completion through the HTTP API, each request's statements counted and timed, and the workers' statements per
notification; the input of the capacity arithmetic in docs/performance.md.

    .venv/bin/python bench/statements_per_order.py [--orders 10]

It (re)creates DATABASE_URL (default postgres://postgres@127.0.0.1:5432/bench_wstatements; only a name starting
with "bench") with bench/settings.py (tasks go to a queue nobody consumes, so a request's count is its own), builds
a store, then for each order: the manager creates it; the consumer pays each installment (start the payment, then
the provider's signed notification); books both visits and the manager assigns them; the technician checks in,
redeems the voucher, uploads the photos, checks out and completes; the store submits the design and the
acceptance, the consumer approves them. Each request is counted with CaptureQueriesContext (what
django_assert_max_num_queries counts: BEGIN and COMMIT included) and its statements' time summed (the time
Django's cursor waited for each, PostgreSQL on loopback included). The reads a consumer, a technician or staff make
are counted once each (order detail built and from the cache, order list, tracking page, slots, job list). Then the
worker's side: the statements to dispatch one transaction's notifications and to deliver one. Beside the time at the
cursor (which the client's Python and a busy machine inflate), PostgreSQL's own cost: the CPU time of the backend
process serving the connection over the metered steps (/proc, PostgreSQL on the same host), per statement.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import recreate_database  # noqa: E402 (needs the path above)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_wstatements"


class Durations(logging.Handler):
    """Each statement's time as Django's debug cursor measured it (its `duration`, unrounded: the captured
    queries' "time" is rounded to the millisecond), BEGIN and COMMIT included."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.seconds = 0.0

    def emit(self, record):
        self.seconds += getattr(record, "duration", 0.0)


class Meter:
    def __init__(self):
        self.steps: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self.durations = Durations()
        self.server_cpu = 0.0  # CPU seconds of PostgreSQL's backend over the metered steps
        self.server_statements = 0
        db_log = logging.getLogger("django.db.backends")
        db_log.setLevel(logging.DEBUG)
        db_log.propagate = False
        db_log.addHandler(self.durations)

    def __call__(self, label: str, send, expect=(200, 201)):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        self.durations.seconds = 0.0
        connection.ensure_connection()
        pid, cpu = backend_cpu(connection)
        with CaptureQueriesContext(connection) as ctx:
            response = send()
        status = getattr(response, "status_code", None)
        assert status is None or status in expect, (label, status, getattr(response, "content", b"")[:400])
        self.steps[label].append((len(ctx.captured_queries), self.durations.seconds))
        if connection.connection is not None and backend_cpu(connection)[0] == pid:
            self.server_cpu += backend_cpu(connection)[1] - cpu
            self.server_statements += len(ctx.captured_queries)
        return response


def backend_cpu(connection) -> tuple[int, float]:
    """(pid, CPU seconds) of the PostgreSQL backend serving this connection, from /proc (PostgreSQL on this very
    host): what PostgreSQL itself spent, whatever the client and the other sessions on the machine do."""
    pid = connection.connection.info.backend_pid
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return pid, 0.0
    return pid, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _photo(name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    buf = io.BytesIO()
    image = Image.new("RGB", (320, 240), (170, 140, 110))
    # A different photo every time: the same photo twice on an order is refused (409 duplicate_evidence).
    image.paste(Image.frombytes("RGB", (8, 8), os.urandom(8 * 8 * 3)), (0, 0))  # a random 8x8 corner
    image.save(buf, format="JPEG")
    return SimpleUploadedFile(name, buf.getvalue(), content_type="image/jpeg")


def lifecycle(meter: Meter, world, consumer, manager_client, tech_client, consumer_client, technician) -> None:
    from django.core.cache import cache
    from django.utils import timezone
    from rest_framework.test import APIClient

    from payments.models import Installment, Payment
    from payments.providers.base import PAYMENT_SUCCEEDED
    from payments.providers.sandbox import build_webhook, payment_event_data
    from tests.factories.fieldwork import starting_soon
    from vouchers.models import Voucher
    from vouchers.services import voucher_code
    from workflows.models import Appointment, ServiceOrder

    store = world.store
    order = meter("write: create order (staff)", lambda: manager_client.post("/api/v1/orders/", {
        "template": world.wardrobe.pk, "store": store.pk, "consumer": {"phone": consumer.phone},
        "total_amount": "12000.00", "currency": "CNY", "service_address": "100 Huaihai Road",
        "latitude": "31.230000", "longitude": "121.470000"}, format="json")).json()
    oid = order["id"]
    provider = APIClient(HTTP_HOST="127.0.0.1")

    def pay_due():
        for inst in Installment.objects.filter(order_id=oid, state__in=Installment.PAYABLE_STATES):
            meter("write: start a payment (consumer)", lambda inst=inst: consumer_client.post(
                f"/api/v1/installments/{inst.pk}/pay/"))
            payment = Payment.objects.get(installment=inst, status__in=Payment.OPEN_STATUSES)
            headers, body = build_webhook(PAYMENT_SUCCEEDED, payment_event_data(payment))
            meter("write: payment notification (provider webhook)", lambda body=body, headers=headers: provider.post(
                "/api/v1/payments/webhooks/sandbox/", body, content_type="application/json",
                **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}))

    def reads():
        cache.clear()
        meter("read: order detail, built (consumer)", lambda: consumer_client.get(f"/api/v1/orders/{oid}/"))
        meter("read: order detail, from the cache (consumer)", lambda: consumer_client.get(f"/api/v1/orders/{oid}/"))

    def visit(code: str, photos: int, checklist: list[str]):
        from workflows.models import StageInstance

        stage = StageInstance.objects.get(order_id=oid, definition__code=code)
        slots = meter("read: slots (consumer)", lambda: consumer_client.get(
            f"/api/v1/orders/{oid}/slots/?stage={stage.pk}")).json()
        appt = meter("write: book a visit (consumer)", lambda: consumer_client.post(
            f"/api/v1/orders/{oid}/appointments/", {"stage": stage.pk, "window_start": slots[0]["start"]},
            format="json")).json()
        meter("write: assign a visit (staff)", lambda: manager_client.post(
            f"/api/v1/appointments/{appt['id']}/assign/", {"technician": technician.pk}, format="json"))
        starting_soon(Appointment.objects.get(pk=appt["id"]))
        meter("read: job list (technician)", lambda: tech_client.get("/api/v1/technician/jobs/"))
        job = f"/api/v1/technician/jobs/{appt['id']}"
        where = {"latitude": 31.2301, "longitude": 121.4701}
        meter("write: check-in (technician)", lambda: tech_client.post(f"{job}/check-in/", {
            "client_event_id": str(uuid.uuid4()), "recorded_at": timezone.now().isoformat(), "accuracy_m": 8,
            **where}, format="json"))
        code_text = voucher_code(Voucher.objects.get(stage=stage, state="issued"))
        meter("write: redeem a voucher (technician)", lambda: tech_client.post(
            "/api/v1/vouchers/redeem/", {"code": code_text, "job": appt["id"]}, format="json"))
        for i in range(photos):
            meter("write: evidence photo (technician)", lambda i=i: tech_client.post(f"{job}/evidence/", {
                "file": _photo(f"p{i}.jpg"), "kind": "photo", "client_event_id": str(uuid.uuid4())},
                format="multipart"))
        meter("write: check-out (technician)", lambda: tech_client.post(f"{job}/check-out/", {
            "client_event_id": str(uuid.uuid4()), "recorded_at": timezone.now().isoformat(), **where,
            "notes": "Done", "checklist": dict.fromkeys(checklist, True)}, format="json"))
        meter("write: complete (technician)", lambda: tech_client.post(f"{job}/complete/", {}, format="json"))

    def submit_and_approve(code: str, file):
        from workflows.models import StageInstance

        stage = StageInstance.objects.get(order_id=oid, definition__code=code)
        meter("write: submit a stage (staff)", lambda: manager_client.post(
            f"/api/v1/stages/{stage.pk}/submit/", {"notes": "Ready", **({"file": file} if file else {})},
            format="multipart"))
        reads()
        meter("read: tracking page (no login)", lambda: APIClient(HTTP_HOST="127.0.0.1").get(
            order["tracking_url"] if order.get("tracking_url") else consumer_tracking(oid)))
        meter("read: order list (consumer)", lambda: consumer_client.get("/api/v1/orders/"))
        meter("write: approve a stage (consumer)", lambda: consumer_client.post(
            f"/api/v1/stages/{stage.pk}/approve/"))

    def consumer_tracking(order_id: int) -> str:
        from notifications.services import tracking_url

        return tracking_url(ServiceOrder.objects.get(pk=order_id))

    reads()
    pay_due()
    visit("measuring", 2, ["Walls measured", "Floor level checked", "Power sockets marked"])
    submit_and_approve("design", _photo("draft.jpg"))
    pay_due()
    visit("installation", 3, ["Cabinets level", "Doors aligned", "Site cleaned"])
    submit_and_approve("acceptance", None)
    pay_due()
    assert ServiceOrder.objects.get(pk=oid).state == "completed", ServiceOrder.objects.get(pk=oid).state


def worker_side(meter: Meter, order_ids: list[int]) -> dict:
    """The workers' statements: one dispatch (a transaction's notifications, fanned out) and one delivery."""
    from notifications.models import Notification
    from notifications.services import notification_deliver, notifications_enqueue

    rows = list(Notification.objects.filter(order_id__in=order_ids).order_by("pk").values_list("pk", flat=True))
    for pk in rows[:20]:
        meter("worker: deliver one notification", lambda pk=pk: notification_deliver(notification_id=pk,
                                                                                      claim_token=f"bench:{pk}"))
    meter("worker: dispatch one transaction's notifications", lambda: notifications_enqueue(rows[20:22]))
    return {"notifications_per_order": len(rows) / len(order_ids)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    url = os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="statements-media-"))
    recreate_database(url)
    import django

    django.setup()
    from django.conf import settings
    from django.core.cache import cache
    from rest_framework.test import APIClient

    from bench import run as bench
    from workflows.models import ServiceOrder

    settings.CHECKIN_EARLIEST_MINUTES = 120  # the product's rule (bench/settings.py lifts it for bench/run.py)
    bench.drop_bench_queue()
    cache.clear()
    bench.migrate()
    world = bench.build_world(4, n_consumers=args.orders)
    for consumer in world.consumers:
        consumer.phone = f"+86138{consumer.pk % 100_000_000:08d}"
        consumer.save(update_fields=["phone"])

    def client(user):
        c = APIClient(HTTP_HOST="127.0.0.1")
        c.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[user.pk]}")
        return c

    meter = Meter()
    manager = client(world.manager)
    started = time.perf_counter()
    for i, consumer in enumerate(world.consumers):
        technician = world.technicians[i % len(world.technicians)]
        lifecycle(meter, world, consumer, manager, client(technician), client(consumer), technician)
    order_ids = list(ServiceOrder.objects.filter(template_version__template=world.wardrobe).values_list(
        "pk", flat=True))
    extra = worker_side(meter, order_ids)
    bench.drop_bench_queue()
    print(f"{len(order_ids)} orders driven to completed in {time.perf_counter() - started:.1f} s; "
          f"{extra['notifications_per_order']:.1f} notifications per order\n")
    print("| step | times per order | statements (median) | statement time, ms (median) |")
    print("|---|---:|---:|---:|")
    rows = []
    for label, samples in meter.steps.items():
        per_order = len(samples) / len(order_ids) if not label.startswith("worker") else None
        stmts = statistics.median(s for s, _ in samples)
        ms = statistics.median(t for _, t in samples) * 1000
        rows.append({"step": label, "per_order": per_order, "statements": stmts, "db_ms": round(ms, 2)})
        print(f"| {label} | {'' if per_order is None else f'{per_order:g}'} | {stmts:g} | {ms:.2f} |")
    writes = [r for r in rows if r["step"].startswith("write")]
    total = sum(r["per_order"] * r["statements"] for r in writes)
    db_ms = sum(r["per_order"] * r["db_ms"] for r in writes)
    requests = sum(r["per_order"] for r in writes)
    print(f"\nwrites per order: {requests:g} requests, {total:g} statements, {db_ms:.1f} ms of statement time "
          f"({db_ms / total:.3f} ms per statement)")
    server_ms = meter.server_cpu * 1000 / max(meter.server_statements, 1)
    print(f"PostgreSQL's own CPU (its backend process, /proc): {meter.server_cpu:.2f} s over "
          f"{meter.server_statements} statements = {server_ms:.3f} ms per statement; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, **extra, "orders": len(order_ids),
                                         "server_cpu_ms_per_statement": round(server_ms, 4)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
