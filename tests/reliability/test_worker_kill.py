"""A Celery worker killed (SIGKILL) in the middle of a task: after a new worker starts, the effect
happens exactly once. 20 trials, on a real worker, a real Redis broker and the real
`notifications.tasks.deliver_notification` task.

Run with:
    CELERY_INTEGRATION=1 CELERY_BROKER_URL=redis://127.0.0.1:6379/14 \
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> .venv/bin/pytest tests/reliability

The effect is an SMS line appended to a file by the test SMS backend, which sleeps before it
writes: the test waits until the task has claimed its notification (pending -> sending) and kills
the worker during that sleep, i.e. after the claim and before the send. That is the kill that used
to leave the row stuck in "sending"; the redelivered task now resumes the row it claimed.

Two ways to die alternate:
- "child": the pool process running the task is killed; the worker's main process sees the lost
  worker and, with acks_late + reject_on_worker_lost, puts the message back at once; a new pool
  process takes it.
- "worker": the whole worker (main process and pool) is killed, so nobody puts the message back;
  a new worker is started, and Redis' visibility timeout (3 s here, set through
  CELERY_BROKER_TRANSPORT_OPTIONS) makes the unacknowledged message visible again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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
TRIALS = 20
SMS_DELAY = 1.0  # the send takes this long: the window in which the worker is killed
VISIBILITY_TIMEOUT = 3  # must exceed the longest task, or Redis redelivers tasks that are still running
TRANSPORT_OPTIONS = (
    f'{{"visibility_timeout": {VISIBILITY_TIMEOUT}, "unacked_restore_interval": 1, '
    '"unacked_restore_throttle": 1, "socket_connect_timeout": 2, "socket_timeout": 5}'
)


def _broker_url() -> str:
    return os.environ.get("CELERY_BROKER_URL") or settings.CELERY_BROKER_URL


class Worker:
    """One `celery worker` process (prefork, one pool process) on the test's own queue."""

    def __init__(self, *, queue: str, env: dict, log: Path):
        self.log = log
        with open(log, "a") as fh:
            self.proc = subprocess.Popen(  # noqa: S603 - our own venv's celery, fixed arguments
                [str(Path(sys.executable).with_name("celery")), "-A", "config", "worker", "-P", "prefork",
                 "-c", "1", "-Q", queue, "-n", f"{queue}-{uuid.uuid4().hex[:6]}@%h", "--without-heartbeat",
                 "--without-gossip", "--without-mingle", "-l", "info"],
                cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def children(self) -> list[int]:
        pids: list[int] = []
        for task in Path(f"/proc/{self.proc.pid}/task").glob("*"):
            try:
                pids += [int(p) for p in (task / "children").read_text().split()]
            except OSError:
                continue
        return pids

    def kill_child(self) -> int:
        (child,) = self.children()
        os.kill(child, signal.SIGKILL)
        return child

    def kill_all(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)  # main process and pool: start_new_session made the group
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def _lines_for(outbox: Path, body: str) -> int:
    return sum(1 for line in outbox.read_text().splitlines() if line.endswith("\t" + body))


@pytest.mark.celery_worker
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_task_sends_each_notification_exactly_once(store, consumer, tmp_path):
    from celery import Celery

    order = make_order(store=store, consumer=consumer, definition=PLAIN_VISIT_WORKFLOW)
    rows = [NotificationFactory(order=order, channel=Notification.Channel.SMS, body=f"kill trial {i}")
            for i in range(TRIALS)]
    outbox = tmp_path / "sms.txt"
    outbox.touch()
    log = tmp_path / "worker.log"
    queue = f"rel-kill-{uuid.uuid4().hex[:12]}"
    broker_url = _broker_url()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker_url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_BROKER_TRANSPORT_OPTIONS": TRANSPORT_OPTIONS,
        "SMS_BACKEND": "tests.notifications.sms_backends.FileSMSBackend",
        "NTF_SMS_OUTBOX": str(outbox),
        "NTF_SMS_DELAY": str(SMS_DELAY),
        "PYTHONPATH": str(ROOT),
    }
    producer = Celery("rel-kill-producer", broker=broker_url, set_as_current=False)
    worker = Worker(queue=queue, env=env, log=log)
    modes = []
    try:
        for i, n in enumerate(rows):
            mode = "child" if i % 2 == 0 else "worker"
            modes.append(mode)
            producer.send_task(TASK, args=[n.pk], queue=queue)

            def claimed(pk=n.pk) -> bool:
                return Notification.objects.filter(pk=pk, state=Notification.State.SENDING).exists()

            assert wait_for(claimed, 30, step=0.02), f"trial {i}: never claimed\n{log.read_text()[-3000:]}"
            if mode == "child":
                worker.kill_child()
            else:
                worker.kill_all()
                worker = Worker(queue=queue, env=env, log=log)
            # Killed after the claim, before the send: nothing went out yet.
            assert _lines_for(outbox, n.body) == 0, f"trial {i}: sent before the kill"

            def sent(pk=n.pk) -> bool:
                return Notification.objects.filter(pk=pk, state=Notification.State.SENT).exists()

            assert wait_for(sent, 30, step=0.05), (
                f"trial {i} ({mode}): not sent after the restart; row "
                f"{Notification.objects.values('state', 'attempts', 'claimed_by').get(pk=n.pk)}\n"
                f"{log.read_text()[-3000:]}"
            )
        # Longer than the visibility timeout: a stray redelivery would have happened by now.
        time.sleep(VISIBILITY_TIMEOUT + 2)
    finally:
        worker.stop()
        producer.close()
        try:
            import redis

            client = redis.Redis.from_url(broker_url)
            left = client.llen(queue)
            client.delete(queue, f"_kombu.binding.{queue}")
        except Exception as exc:  # noqa: BLE001 - cleaning up the test queue must not hide the result
            left = None
            print(f"could not clean up test queue {queue}: {exc}")

    text = log.read_text()
    assert text.count("WorkerLostError") >= TRIALS // 2, "the child kills were not seen as lost workers"
    assert left == 0
    for n in rows:
        n.refresh_from_db()
        # Exactly one SMS per notification; two attempts: the killed one and the resumed one.
        assert _lines_for(outbox, n.body) == 1, (n.body, outbox.read_text())
        assert (n.state, n.attempts) == (Notification.State.SENT, 2), (n.body, n.state, n.attempts)
    assert len(outbox.read_text().splitlines()) == TRIALS
    assert modes.count("child") == modes.count("worker") == TRIALS // 2
