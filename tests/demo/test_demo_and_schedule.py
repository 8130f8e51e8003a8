"""The demo command builds orders in every stage, idempotently; the beat schedule names real tasks."""

import importlib

import pytest
from django.conf import settings
from django.core.management import call_command

from workflows.events import verify_chain
from workflows.models import ServiceOrder


@pytest.mark.django_db
def test_load_demo_puts_orders_in_every_stage_and_is_idempotent(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    call_command("load_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    states = dict(ServiceOrder.objects.values_list("number", "state"))
    assert {
        "booking:waiting_payment",
        "measuring:ready",
        "measuring:scheduled",
        "measuring:in_progress",
        "design:ready",
        "design:awaiting_approval",
        "installation:waiting_payment",
        "installation:scheduled",
        "acceptance:awaiting_approval",
        "closing",
        "completed",
        "cancelled",
    } <= set(states.values())
    counts = ServiceOrder.objects.count(), sum(o.events.count() for o in ServiceOrder.objects.all())
    call_command("load_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert (ServiceOrder.objects.count(), sum(o.events.count() for o in ServiceOrder.objects.all())) == counts
    assert all(verify_chain(o.pk) is None for o in ServiceOrder.objects.all())


def test_every_beat_entry_names_a_registered_task():
    from celery import Task

    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        module_name, _, attr = entry["task"].rpartition(".")
        task = getattr(importlib.import_module(module_name), attr, None)
        assert isinstance(task, Task), f"{name}: {entry['task']} is not a Celery task"
        assert task.name == entry["task"], name
