"""A real Celery worker on Redis delivers a notification once, even when the task is delivered twice.

Run with:
    CELERY_INTEGRATION=1 CELERY_BROKER_URL=redis://127.0.0.1:6379/15 \
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> .venv/bin/pytest tests/notifications

The worker is another process: it reads the same (committed) test database, and its SMS backend
writes one line per message to a file, which is what the test counts. The tasks go to a queue of
this run's own, so other workers on the same Redis database cannot take them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from notifications.models import Notification
from tests.factories.notifications import PLAIN_VISIT_WORKFLOW, NotificationFactory
from tests.factories.workflows import make_order
from tests.reliability.support import database_url, wait_for

TASK = "notifications.tasks.deliver_notification"
ROOT = Path(__file__).resolve().parents[2]


def _broker_url() -> str:
    return os.environ.get("CELERY_BROKER_URL") or settings.CELERY_BROKER_URL


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)  # warm shutdown of the worker and its pool children
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the worker's own process group (start_new_session)
        proc.wait(timeout=5)


@pytest.mark.celery_worker
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_a_twice_delivered_notification_once(store, consumer, tmp_path):
    from celery import Celery

    order = make_order(store=store, consumer=consumer, definition=PLAIN_VISIT_WORKFLOW)
    n = NotificationFactory(order=order, channel=Notification.Channel.SMS, body="Your technician comes at 10:00")
    outbox = tmp_path / "sms.txt"
    outbox.touch()
    log = tmp_path / "worker.log"
    queue = f"ntf-test-{uuid.uuid4().hex[:12]}"
    broker_url = _broker_url()

    # Two deliveries of the same task, queued before the worker starts, so its two pool
    # processes take them at the same moment.
    producer = Celery("ntf-test-producer", broker=broker_url, set_as_current=False)
    for _ in range(2):
        producer.send_task(TASK, args=[n.pk], queue=queue)

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker_url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "SMS_BACKEND": "tests.notifications.sms_backends.FileSMSBackend",
        "NTF_SMS_OUTBOX": str(outbox),
        "NTF_SMS_DELAY": "1.0",
        "PYTHONPATH": str(ROOT),
    }
    celery_bin = Path(sys.executable).with_name("celery")
    with open(log, "w") as log_fh:
        proc = subprocess.Popen(  # noqa: S603 - our own venv's celery, fixed arguments
            [str(celery_bin), "-A", "config", "worker", "-Q", queue, "--pool=prefork", "--concurrency=2",
             "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "info",
             "-n", f"{queue}@%h"],
            cwd=ROOT, env=env, stdout=log_fh, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        def both_tasks_done() -> bool:
            return log.read_text().count(f"Task {TASK}[") >= 4 and log.read_text().count("succeeded in") >= 2

        assert wait_for(lambda: Notification.objects.get(pk=n.pk).state == Notification.State.SENT, 30), \
            f"not sent within 30 s; worker log:\n{log.read_text()[-3000:]}"
        assert wait_for(both_tasks_done, 30), f"the second delivery did not finish:\n{log.read_text()[-3000:]}"
    finally:
        _stop(proc)
        try:
            import redis

            client = redis.Redis.from_url(broker_url)
            client.delete(queue, f"_kombu.binding.{queue}")
        except Exception as exc:  # noqa: BLE001 - cleaning up the test queue must not hide the result
            print(f"could not delete test queue {queue}: {exc}")

    lines = outbox.read_text().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].endswith("Your technician comes at 10:00")
    n.refresh_from_db()
    assert (n.state, n.attempts) == (Notification.State.SENT, 1)
    assert n.provider_ref.startswith("file:")
    text = log.read_text()
    assert "'sent'" in text and "'not_claimed'" in text
