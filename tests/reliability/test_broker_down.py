"""Redis down while orders are created: every request still succeeds, nothing is lost.

Order creation writes the outbox rows (notifications) in the order's transaction and queues their
delivery on commit. While the broker is down the queueing fails: the request must neither fail nor
hang, and the rows stay pending. When the broker is back, the outbox relay delivers each of them
exactly once.

"Down" is simulated without touching the shared Redis: the app's broker is pointed at a closed
local port (connection refused) or at a local socket that accepts and never answers (a hung Redis).
"""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager

import pytest
from django.db.models import Count

from config.celery import app as celery_app
from notifications import tasks
from notifications.models import Notification
from tests.factories.notifications import PLAIN_VISIT_WORKFLOW
from tests.factories.workflows import make_template
from tests.notifications.sms_backends import RecordingSMSBackend
from workflows.models import OrderEvent, ServiceOrder

ORDERS = 8
State = Notification.State


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def broker_at(url: str):
    """Celery (in this process) publishes to `url`, for real (not eager), inside the block."""
    conf = celery_app.conf
    saved = conf.broker_url, conf.task_always_eager
    celery_app._pool = None  # the producer pool is made for one broker URL; a new one is made on use
    conf.broker_url, conf.task_always_eager = url, False
    try:
        yield
    finally:
        conf.broker_url, conf.task_always_eager = saved
        celery_app._pool = None


@contextmanager
def silent_server():
    """A TCP server that accepts connections and never answers: Redis hung, or a half-open link."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    held, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        server.close()


@pytest.fixture
def recording_sms(settings):
    settings.SMS_BACKEND = "tests.notifications.sms_backends.RecordingSMSBackend"
    RecordingSMSBackend.sent = []
    return RecordingSMSBackend


def _payload(template, store, i: int) -> dict:
    return {
        "template": template.pk, "store": store.pk,
        "consumer": {"phone": f"+86139000{i:05d}", "name": f"Consumer {i}", "email": f"c{i}@example.com"},
        "total_amount": "12000.00", "currency": "CNY", "service_address": "88 Test Road, Shanghai",
        "latitude": "31.230000", "longitude": "121.470000",
    }


@pytest.mark.django_db(transaction=True)
def test_orders_created_while_redis_is_down_lose_no_notification(client_for, store_manager, merchant, store,
                                                                 recording_sms, settings):
    template = make_template(merchant=merchant, stores=[store], definition=PLAIN_VISIT_WORKFLOW)
    client = client_for(store_manager)
    before = set(Notification.objects.values_list("pk", flat=True))

    # Redis is down: every order is still created, quickly.
    with broker_at(f"redis://127.0.0.1:{_free_port()}/0"):
        ids, slowest = [], 0.0
        for i in range(ORDERS):
            started = time.monotonic()
            response = client.post("/api/v1/orders/", _payload(template, store, i), format="json",
                                   HTTP_IDEMPOTENCY_KEY=f"down-{i}")
            slowest = max(slowest, time.monotonic() - started)
            assert response.status_code == 201, response.content
            ids.append(response.json()["id"])
    assert slowest < 5, f"an order took {slowest:.1f} s with the broker down"

    orders = ServiceOrder.objects.filter(pk__in=ids)
    assert orders.count() == ORDERS
    assert OrderEvent.objects.filter(order__in=orders, kind="order.created").count() == ORDERS
    outbox = Notification.objects.filter(order__in=orders).exclude(pk__in=before)
    assert outbox.count() >= ORDERS  # at least one message per order (the consumer hears about it)
    per_order = dict(outbox.values_list("order").annotate(n=Count("pk")))
    assert set(per_order) == set(ids)
    assert set(outbox.values_list("state", flat=True)) == {State.PENDING}, "nothing may be sent or lost"

    # Redis is back (eager Celery stands for a live broker and worker); the relay runs.
    settings.NOTIFICATION_RELAY_AFTER_SECONDS = 0
    assert tasks.relay_pending_notifications.delay().get() == outbox.count()
    assert set(outbox.values_list("state", flat=True)) == {State.SENT}
    assert set(outbox.values_list("attempts", flat=True)) == {1}
    sms_rows = list(outbox.filter(channel=Notification.Channel.SMS).values_list("to_address", "body"))
    assert sorted(recording_sms.sent) == sorted(sms_rows)  # each SMS exactly once

    # A second relay run finds nothing to do and sends nothing again.
    assert tasks.relay_pending_notifications.delay().get() == 0
    assert len(recording_sms.sent) == len(sms_rows)


@pytest.mark.django_db(transaction=True)
def test_a_hung_redis_does_not_hang_the_request(client_for, store_manager, merchant, store, recording_sms,
                                                settings):
    """Bounded socket timeouts and publish retries (config/settings/base.py): without them redis-py
    waits forever for a broker that accepted the connection and never answers."""
    template = make_template(merchant=merchant, stores=[store], definition=PLAIN_VISIT_WORKFLOW)
    with silent_server() as url, broker_at(url):
        started = time.monotonic()
        response = client_for(store_manager).post("/api/v1/orders/", _payload(template, store, 99), format="json")
        elapsed = time.monotonic() - started
    assert response.status_code == 201, response.content
    assert elapsed < 20, f"the request waited {elapsed:.1f} s on a hung broker"
    outbox = Notification.objects.filter(order_id=response.json()["id"])
    assert outbox.exists() and set(outbox.values_list("state", flat=True)) == {State.PENDING}
    settings.NOTIFICATION_RELAY_AFTER_SECONDS = 0
    assert tasks.relay_pending_notifications.delay().get() == outbox.count()
    assert set(outbox.values_list("state", flat=True)) == {State.SENT}
