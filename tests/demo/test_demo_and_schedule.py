"""The demo command builds orders in every stage, idempotently; the beat schedule names real tasks."""

import importlib
from datetime import UTC, datetime

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command

from core.errors import NotFound
from fieldwork.models import Evidence
from fieldwork.selectors import order_evidence_list
from tests.fuzz.run_fuzz import ROLES
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
    assert_each_fuzzing_role_owns_evidence()
    assert_the_fixed_deposit_is_taken_first()
    counts = ServiceOrder.objects.count(), sum(o.events.count() for o in ServiceOrder.objects.all())
    call_command("load_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert (ServiceOrder.objects.count(), sum(o.events.count() for o in ServiceOrder.objects.all())) == counts
    assert all(verify_chain(o.pk) is None for o in ServiceOrder.objects.all())


def assert_the_fixed_deposit_is_taken_first():
    """The built-in appliance's deposit is a fixed 500.00 whatever the total; the installation takes the rest."""
    from decimal import Decimal

    from payments.models import Installment

    def installments(number):
        return list(Installment.objects.filter(order__number=number).order_by("position")
                    .values_list("stage__definition__code", "amount", "state"))

    assert installments("DEMO15") == [("booking", Decimal("500.00"), "due"),
                                      ("installation", Decimal("6300.00"), "scheduled")]
    assert installments("DEMO16") == [("booking", Decimal("500.00"), "paid"),
                                      ("installation", Decimal("8499.00"), "due")]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 12, 2, 0, 45, tzinfo=UTC),  # 08:45 in Shanghai: the first slot is today, at opening
        datetime(2026, 12, 2, 3, 45, tzinfo=UTC),  # 11:45: visits parked today fill the afternoon
        datetime(2026, 12, 5, 9, 50, tzinfo=UTC),  # Saturday 17:50: the next working day is Monday
    ],
    ids=["before-opening", "midday", "saturday-evening"],
)
def test_load_demo_gives_each_technician_their_own_visits_at_any_hour(settings, now):
    """The demo's preferred technician gets the visits whenever it is loaded: early in the store's day the first
    free slot overlapped a visit parked for them today, the other technician got every visit, and the fuzzer's
    technician had no evidence of their own to probe."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with time_machine.travel(now, tick=True):
        call_command("load_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
        assert_each_fuzzing_role_owns_evidence()


def assert_each_fuzzing_role_owns_evidence():
    """The fuzzer's ownership probe (tests/fuzz/run_fuzz.py) checks an order's evidence files only where the
    role's identity sees an order with evidence that its same-role peer does not."""
    names = {name for pair in ROLES.values() for name in pair}
    users = {u.username: u for u in get_user_model().objects.filter(username__in=names)}

    def sees(username, order_id):
        try:
            order_evidence_list(user=users[username], order_id=order_id)
        except NotFound:
            return False
        return True

    order_ids = set(Evidence.objects.values_list("order_id", flat=True))
    for role, (owner, peer) in ROLES.items():
        assert any(sees(owner, o) and not sees(peer, o) for o in order_ids), role


def test_every_beat_entry_names_a_registered_task():
    from celery import Task

    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        module_name, _, attr = entry["task"].rpartition(".")
        task = getattr(importlib.import_module(module_name), attr, None)
        assert isinstance(task, Task), f"{name}: {entry['task']} is not a Celery task"
        assert task.name == entry["task"], name
