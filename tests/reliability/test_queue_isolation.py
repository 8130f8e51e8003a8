"""A backlog of notifications does not delay a refund: with the queues split by kind (CELERY_TASK_ROUTES) and a
worker per queue (README, "Workers and queues"), the payment task runs while the notification backlog is still
being worked off. The same run with every task on one queue (the set-up before the split) shows what the split
prevents: the refund waits behind the whole backlog.

Run with:
    CELERY_INTEGRATION=1 CELERY_BROKER_URL=redis://127.0.0.1:6379/11 \
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> .venv/bin/pytest tests/reliability/test_queue_isolation.py

Real workers (other processes) on Redis run the real tasks `payments.tasks.refund_submit_task` (the sandbox
provider refunds and notifies) and `notifications.tasks.deliver_notification` (an SMS backend that takes
SMS_DELAY per message and appends a line to a file). The test asks the product's router which queue each task
goes to and sends it to that queue's name with this run's suffix, so no other worker on the same Redis database
takes it. It judges by order, not by time: how many of the backlog's messages were sent when the refund settled.
Whatever the workers themselves queue (the refund's own notifications) runs in their process (eager), so nothing
is left in the broker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from config.celery import app
from notifications.models import Notification
from payments.models import Installment, Refund
from tests.factories.notifications import PLAIN_VISIT_WORKFLOW, NotificationFactory
from tests.factories.payments import pay_installment
from tests.factories.workflows import make_order
from tests.reliability.support import database_url, wait_for

ROOT = Path(__file__).resolve().parents[2]
REFUND = "payments.tasks.refund_submit_task"
DELIVER = "notifications.tasks.deliver_notification"
BACKLOG = 12
SMS_DELAY = 0.4  # seconds per message: the backlog takes BACKLOG x SMS_DELAY to work off on one process
MARK = "queue-isolation backlog"
WITH_ROUTES = {"payments": "payments", "notifications": "notifications"}  # a worker per queue, as deployed
ONE_QUEUE = {"payments": "celery", "notifications": "celery"}  # the control: one queue for everything


def _broker_url() -> str:
    return os.environ.get("CELERY_BROKER_URL") or settings.CELERY_BROKER_URL


def _queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name, args=(), kwargs={})["queue"].name


class _Worker:
    def __init__(self, queue: str, env: dict, log: Path):
        self.log = log
        with open(log, "w") as fh:
            self.proc = subprocess.Popen(  # noqa: S603 - our own venv's celery, fixed arguments
                [str(Path(sys.executable).with_name("celery")), "-A", "config", "worker", "-P", "prefork", "-c", "1",
                 "-Q", queue, "-n", f"{queue}-{uuid.uuid4().hex[:6]}@%h", "--prefetch-multiplier=1",
                 "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "info"],
                cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def ready(self) -> bool:
        return " ready." in self.log.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(timeout=5)


def _captured_deposit(store, consumer):
    order = make_order(store=store, consumer=consumer, definition={
        "name": "Deposit then visit",
        "stages": [{"code": "deposit", "name": "Deposit", "payment_share": Decimal("100")},
                   *PLAIN_VISIT_WORKFLOW["stages"]],
    })
    return pay_installment(Installment.objects.get(order=order, position=1))


def _sent(outbox: Path) -> int:
    return sum(MARK in line for line in outbox.read_text().splitlines())


@pytest.mark.celery_worker
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("layout", ["a worker per queue", "one queue for everything"])
def test_a_notification_backlog_does_not_delay_a_refund(layout, store, consumer, tmp_path):
    from celery import Celery

    assert (_queue_of(REFUND), _queue_of(DELIVER)) == ("payments", "notifications")
    queues = WITH_ROUTES if layout == "a worker per queue" else ONE_QUEUE
    suffix = uuid.uuid4().hex[:10]
    names = {kind: f"{queue}.qi-{suffix}" for kind, queue in queues.items()}
    payment = _captured_deposit(store, consumer)
    refund = Refund.objects.create(payment=payment, amount=payment.amount, currency=payment.currency,
                                   reason="queue isolation")
    order = payment.order
    backlog = [NotificationFactory(order=order, channel=Notification.Channel.SMS, body=f"{MARK} {i}")
               for i in range(BACKLOG)]
    outbox = tmp_path / "sms.txt"
    outbox.touch()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "DATABASE_URL": database_url(),
           "CELERY_BROKER_URL": _broker_url(), "CELERY_TASK_ALWAYS_EAGER": "1", "PYTHONPATH": str(ROOT),
           "SMS_BACKEND": "tests.notifications.sms_backends.FileSMSBackend", "NTF_SMS_OUTBOX": str(outbox),
           "NTF_SMS_DELAY": str(SMS_DELAY)}
    workers = [_Worker(name, env, tmp_path / f"worker-{i}.log") for i, name in enumerate(sorted(set(names.values())))]
    producer = Celery("qi-producer", broker=_broker_url(), set_as_current=False)
    try:
        assert wait_for(lambda: all(w.ready() for w in workers), 60), \
            "\n".join(w.log.read_text()[-2000:] for w in workers)
        for n in backlog:  # the flood first, then the refund
            producer.send_task(DELIVER, args=[n.pk], queue=names["notifications"])
        producer.send_task(REFUND, args=[refund.pk], queue=names["payments"])
        t0 = time.monotonic()
        assert wait_for(lambda: Refund.objects.get(pk=refund.pk).status == Refund.Status.SUCCEEDED,
                        BACKLOG * SMS_DELAY + 30, step=0.05), \
            "\n".join(w.log.read_text()[-3000:] for w in workers)
        sent_when_refunded, waited = _sent(outbox), time.monotonic() - t0
        assert wait_for(lambda: _sent(outbox) == BACKLOG, BACKLOG * SMS_DELAY + 30), outbox.read_text()
    finally:
        for w in workers:
            w.stop()
        import redis

        redis.Redis.from_url(_broker_url()).delete(*names.values(), *(f"_kombu.binding.{q}" for q in names.values()))

    print(f"{layout}: the refund settled after {waited:.2f} s, with {sent_when_refunded} of {BACKLOG} "
          "notifications sent")
    if layout == "a worker per queue":
        # At once: its worker was idle. Half the backlog is a wide margin for a slow start on a busy machine.
        assert sent_when_refunded < BACKLOG // 2
    else:
        assert sent_when_refunded == BACKLOG  # FIFO: behind every notification queued before it
