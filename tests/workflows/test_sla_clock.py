"""SLA clocks that are right (issue 21, point 5, first half): an off-site stage's due time is set when work on it
can start (`ready`), the clock stops while the order waits on the consumer (payment, approval) and the due time
moves by the pause; the waiting time is counted apart from the work time."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from insights import sla
from insights.models import SlaBreach
from tests.factories.payments import pay_due_installments
from tests.factories.workflows import make_order, stage_of
from workflows import services

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
DESIGN = {
    "name": "Deposit, design, install",
    "stages": [
        {"code": "deposit", "name": "Deposit", "payment_share": Decimal("20"), "payment_timing": "before",
         "sla_hours": 48},
        {"code": "design", "name": "Design", "requires_approval": True, "max_rework_rounds": 3, "sla_hours": 120},
        {"code": "install", "name": "Installation", "sla_hours": 72, "payment_share": Decimal("80"),
         "payment_timing": "before"},
    ],
}


@pytest.fixture
def clock():
    with time_machine.travel(timezone.now().replace(microsecond=0), tick=False) as traveller:
        yield traveller


def shift(clock, hours: float):
    clock.shift(timedelta(hours=hours))


def test_waiting_for_the_first_payment_is_no_store_time(clock, store, consumer, store_manager):
    order = make_order(store=store, consumer=consumer, definition=DESIGN)
    deposit = stage_of(order, "deposit")
    assert deposit.state == "waiting_payment" and deposit.sla_due_at is None and deposit.sla_paused_at is not None
    shift(clock, 30)  # the consumer pays a day and a bit later
    pay_due_installments(order)
    deposit = stage_of(order, "deposit")  # nothing to do in it but pay: done once paid
    assert deposit.state == "done" and deposit.sla_paused_at is None
    assert deposit.waiting_seconds == 30 * 3600
    design = stage_of(order, "design")
    assert design.state == "ready" and design.sla_due_at == timezone.now() + 120 * HOUR


def test_approval_pauses_the_clock_and_the_due_time_moves_by_the_pause(clock, store, consumer, store_manager):
    order = make_order(store=store, consumer=consumer, definition=DESIGN)
    pay_due_installments(order)
    design = stage_of(order, "design")
    entered = timezone.now()
    assert design.state == "ready" and design.sla_due_at == entered + 120 * HOUR  # off-site: due at `ready`

    shift(clock, 10)
    services.stage_submit(stage=design, actor=store_manager)  # the draft goes to the consumer
    design = stage_of(order, "design")
    assert design.state == "awaiting_approval" and design.sla_paused_at == timezone.now()
    shift(clock, 100)  # the consumer takes 100 h; the store's clock would have passed 110 of its 120 h
    assert sla.scan_stage_overdue(timezone.now() + 20 * HOUR, 100) == 0  # paused: no breach even past the due
    services.stage_reject(stage=design, actor=consumer, reason="Darker wood")
    design = stage_of(order, "design")
    assert design.state == "in_progress" and design.sla_paused_at is None
    assert design.sla_due_at == entered + (120 + 100) * HOUR
    assert design.waiting_seconds == 100 * 3600

    shift(clock, 115)  # the store is now late on its own time: 10 + 115 > 120
    assert sla.scan_stage_overdue(timezone.now(), 100) == 1
    assert SlaBreach.objects.get(stage=design).due_at == entered + 220 * HOUR


def test_the_stage_durations_split_work_and_waiting(clock, store, consumer, store_manager, operator, client_for):
    order = make_order(store=store, consumer=consumer, definition=DESIGN)
    pay_due_installments(order)
    shift(clock, 6)
    services.stage_submit(stage=stage_of(order, "design"), actor=store_manager)
    shift(clock, 18)
    services.stage_approve(stage=stage_of(order, "design"), actor=consumer)
    design = stage_of(order, "design")
    assert design.state == "done" and design.waiting_seconds == 18 * 3600 and design.sla_paused_at is None
    body = client_for(operator).get("/api/v1/platform/metrics/").json()
    row = next(r for r in body["stage_durations"] if r["stage_code"] == "design")
    assert row["avg_seconds"] == 24 * 3600
    assert (row["avg_work_seconds"], row["avg_waiting_seconds"]) == (6 * 3600, 18 * 3600)


def test_the_order_detail_shows_the_clock(clock, store, consumer, store_manager, client_for):
    order = make_order(store=store, consumer=consumer, definition=DESIGN)
    pay_due_installments(order)
    services.stage_submit(stage=stage_of(order, "design"), actor=store_manager)
    stages = {s["code"]: s for s in client_for(consumer).get(f"/api/v1/orders/{order.pk}/").json()["stages"]}
    assert stages["design"]["sla_paused_at"] is not None and stages["design"]["sla_due_at"] is not None
    assert stages["deposit"]["sla_paused_at"] is None and stages["deposit"]["waiting_seconds"] == 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(["reject", "wait"]), st.integers(0, 200)), max_size=6),
       answer_hours=st.lists(st.integers(0, 300), min_size=7, max_size=7))
def test_the_due_time_is_always_the_sla_plus_the_consumers_waiting(clock, store, consumer, store_manager,
                                                                   steps, answer_hours):
    """Whatever the store and the consumer take, in any order of rounds: due = ready + SLA + time paused."""
    order = make_order(store=store, consumer=consumer, definition=DESIGN)
    pay_due_installments(order)
    entered = stage_of(order, "design").entered_at
    waited = 0
    for (action, work_hours), answer in zip(steps, answer_hours, strict=False):
        shift(clock, work_hours)
        if stage_of(order, "design").state not in ("ready", "in_progress"):
            break
        services.stage_submit(stage=stage_of(order, "design"), actor=store_manager)
        shift(clock, answer)
        waited += answer * 3600
        if action == "reject" and stage_of(order, "design").rework_rounds < 3:
            services.stage_reject(stage=stage_of(order, "design"), actor=consumer, reason="again")
        else:
            services.stage_approve(stage=stage_of(order, "design"), actor=consumer)
            break
    design = stage_of(order, "design")
    assert design.sla_paused_at is None or design.state == "awaiting_approval"
    assert design.waiting_seconds == waited
    assert design.sla_due_at == entered + 120 * HOUR + timedelta(seconds=waited)
