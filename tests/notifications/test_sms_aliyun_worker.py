"""A real Celery worker, Alibaba Cloud SMS throttled: the message goes out once, later, after the back-off.

Run with:
    CELERY_INTEGRATION=1 CELERY_BROKER_URL=redis://127.0.0.1:6379/<db> \
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> .venv/bin/pytest tests/notifications/test_sms_aliyun_worker.py

The worker is another process on this run's own queue; the local Dysms (tests/notifications/dysms_server.py)
runs in the test process and answers the first SendSms with isv.BUSINESS_LIMIT_CONTROL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from notifications.conf import setting
from notifications.models import Notification
from tests.factories.notifications import PLAIN_VISIT_WORKFLOW, NotificationFactory
from tests.factories.workflows import make_order
from tests.notifications.dysms_server import KEY_ID, KEY_SECRET, FakeDysms
from tests.notifications.test_celery_worker import _broker_url, _stop
from tests.notifications.test_sms_aliyun import all_templates
from tests.reliability.support import database_url, wait_for

TASK = "notifications.tasks.deliver_notification"
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.celery_worker
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_a_throttled_message_once_after_the_back_off(store, consumer, tmp_path):
    from celery import Celery

    dysms = FakeDysms()
    dysms.codes = ["isv.BUSINESS_LIMIT_CONTROL"]
    order = make_order(store=store, consumer=consumer, definition=PLAIN_VISIT_WORKFLOW)
    Notification.objects.filter(order=order).delete()
    n = NotificationFactory(order=order, kind="test.message", params={"n": order.number})
    log = tmp_path / "worker.log"
    queue = f"sms-test-{uuid.uuid4().hex[:12]}"
    broker_url = _broker_url()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker_url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "SMS_BACKEND": "notifications.sms_aliyun.AliyunSMSBackend",
        "ALIYUN_SMS_ACCESS_KEY_ID": KEY_ID, "ALIYUN_SMS_ACCESS_KEY_SECRET": KEY_SECRET,
        "ALIYUN_SMS_SIGN_NAME": "服务通", "ALIYUN_SMS_ENDPOINT": dysms.endpoint, "ALIYUN_SMS_PROTOCOL": "http",
        "ALIYUN_SMS_TEMPLATES": json.dumps(all_templates()),
        "PYTHONPATH": str(ROOT),
    }
    Celery("sms-test-producer", broker=broker_url, set_as_current=False).send_task(TASK, args=[n.pk], queue=queue)
    celery_bin = Path(sys.executable).with_name("celery")
    backoff = setting("NOTIFICATION_RETRY_BACKOFF_SECONDS")
    with open(log, "w") as log_fh:
        proc = subprocess.Popen(  # noqa: S603 - our own venv's celery, fixed arguments
            [str(celery_bin), "-A", "config", "worker", "-Q", queue, "--pool=solo", "--without-heartbeat",
             "--without-gossip", "--without-mingle", "-l", "info", "-n", f"{queue}@%h"],
            cwd=ROOT, env=env, stdout=log_fh, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        assert wait_for(lambda: len(dysms.requests) >= 1, 30), log.read_text()[-3000:]
        first = time.monotonic()
        assert wait_for(lambda: Notification.objects.get(pk=n.pk).state == Notification.State.SENT, backoff + 40), \
            f"not sent after the back-off; worker log:\n{log.read_text()[-3000:]}"
        waited = time.monotonic() - first
        time.sleep(2)  # a second send, were there one, would show now
    finally:
        _stop(proc)
        dysms.close()
        try:
            import redis

            redis.Redis.from_url(broker_url).delete(queue, f"_kombu.binding.{queue}")
        except Exception as exc:  # noqa: BLE001 - cleaning up the test queue must not hide the result
            print(f"could not delete test queue {queue}: {exc}")

    n.refresh_from_db()
    assert (n.state, n.attempts, n.last_error) == (Notification.State.SENT, 2, "")
    assert [r["signed"] for r in dysms.requests] == [True, True]
    assert {r["params"]["OutId"] for r in dysms.requests} == {f"ntf-{n.pk}-{int(n.created_at.timestamp())}"}
    assert waited >= backoff - 2, f"sent again after {waited:.1f} s, before the {backoff} s back-off"
