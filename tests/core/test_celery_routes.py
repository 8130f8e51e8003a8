"""Every Celery task of the service goes to the queue of its kind (CELERY_TASK_ROUTES), so a worker per queue keeps
one kind of work from waiting behind another (tests/reliability/test_queue_isolation.py proves it on real workers)."""

import pytest
from django.conf import settings

from config.celery import app

APPS = ("core", "tenancy", "workflows", "payments", "vouchers", "fieldwork", "notifications", "insights", "demo")


def our_tasks() -> list[str]:
    app.loader.import_default_modules()  # the apps' tasks modules (autodiscovery)
    return sorted(name for name in app.tasks if name.split(".", 1)[0] in APPS)


def queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name, args=(), kwargs={})["queue"].name


def test_every_task_of_the_service_has_a_queue_of_its_kind():
    tasks = our_tasks()
    assert len(tasks) >= 15, tasks  # the discovery found them (a filter that found nothing would prove nothing)
    unrouted = [name for name in tasks if name not in settings.CELERY_TASK_ROUTES]
    assert unrouted == [], f"route these tasks in CELERY_TASK_ROUTES (config/settings/base.py): {unrouted}"
    assert {queue_of(name) for name in tasks} == {"payments", "notifications", "webhooks", "periodic"}


@pytest.mark.parametrize("task, queue", [
    ("payments.tasks.refund_submit_task", "payments"),
    ("payments.tasks.refund_unowed_payment_task", "payments"),
    ("notifications.tasks.deliver_notification", "notifications"),
    ("notifications.tasks.dispatch_notifications", "notifications"),
    ("insights.tasks.deliver_webhook", "webhooks"),
    ("insights.tasks.scan_sla_breaches", "periodic"),
    ("notifications.tasks.relay_pending_notifications", "periodic"),
    ("payments.tasks.refunds_resubmit_stale_task", "periodic"),
])
def test_the_router_sends_each_kind_to_its_queue(task, queue):
    assert queue_of(task) == queue


def test_every_periodic_job_goes_to_the_periodic_queue():
    assert {queue_of(job["task"]) for job in settings.CELERY_BEAT_SCHEDULE.values()} == {"periodic"}
