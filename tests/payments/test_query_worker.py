"""A lost WeChat Pay notification is recovered by the query job on a real Celery worker (Redis, PostgreSQL), the
provider played by the loopback WeChat Pay server of this test process.

    CELERY_INTEGRATION=1 CELERY_BROKER_URL=redis://127.0.0.1:6379/<db> \\
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> .venv/bin/pytest tests/payments/test_query_worker.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from payments.models import LedgerEntry, Payment
from payments.services import installment_pay
from payments.services.checkout import Payer
from tests.notifications.test_celery_worker import _broker_url, _stop
from tests.payments.helpers import inst_of
from tests.reliability.support import database_url, wait_for

TASK = "payments.tasks.payments_query_pending_task"
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.celery_worker
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_query_job_on_a_worker_captures_a_payment_whose_notification_was_lost(wechatpay, order, tmp_path):
    from celery import Celery

    payment = installment_pay(installment=inst_of(order, "booking"), actor=order.consumer, channel="wechat_native",
                              payer=Payer()).payment
    wechatpay.pay(payment.reference)  # paid at WeChat Pay; its notification never comes
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(minutes=6))
    queue = f"pay-test-{uuid.uuid4().hex[:12]}"
    broker_url = _broker_url()
    Celery("pay-test-producer", broker=broker_url, set_as_current=False).send_task(TASK, queue=queue)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "DATABASE_URL": database_url(),
           "CELERY_BROKER_URL": broker_url, "CELERY_TASK_ALWAYS_EAGER": "0",
           "WECHATPAY_API_BASE_URL": wechatpay.base, "PYTHONPATH": str(ROOT)}
    log = tmp_path / "worker.log"
    with open(log, "w") as log_fh:
        proc = subprocess.Popen(  # noqa: S603 - our own venv's celery, fixed arguments
            [str(Path(sys.executable).with_name("celery")), "-A", "config", "worker", "-Q", queue, "--pool=solo",
             "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "info", "-n", f"{queue}@%h"],
            cwd=ROOT, env=env, stdout=log_fh, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert wait_for(lambda: Payment.objects.get(pk=payment.pk).status == "captured", 60), log.read_text()[-3000:]
    finally:
        _stop(proc)
        try:
            import redis

            redis.Redis.from_url(broker_url).delete(queue, f"_kombu.binding.{queue}")
        except Exception as exc:  # noqa: BLE001 - cleaning up the test queue must not hide the result
            print(f"could not delete test queue {queue}: {exc}")
    assert LedgerEntry.objects.filter(order=order, kind=LedgerEntry.Kind.CHARGE).count() == 1
    assert ("GET", f"/v3/pay/transactions/out-trade-no/{payment.reference}") in wechatpay.calls
