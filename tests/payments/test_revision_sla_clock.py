"""The SLA clock stands still while a price revision waits for the consumer's answer (issue 21, point 5): the stage's
due time moves by exactly the pause, which counts as waiting time; a stage already waiting on the consumer (a
payment, an approval) is not counted twice; the engine does not restart a clock the open revision holds."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.models import PriceRevision
from payments.services import revision_accept, revision_decline, revision_propose
from tests.factories.workflows import make_order, stage_of
from workflows import engine
from workflows import services as wf
from workflows.models import ServiceOrder, StageDefinition, StageInstance

S = StageInstance.State
T0 = datetime(2031, 3, 4, 2, 0, tzinfo=UTC)
H = timedelta(hours=1)
# One off-site stage with an approval and a 48-hour SLA; then one paid after its approval (unpaid: revisable).
DESIGN_THEN_PAY = {"name": "Design", "stages": [
    {"code": "design", "name": "Design", "requires_approval": True, "sla_hours": 48},
    {"code": "final", "name": "Final", "requires_approval": True, "payment_share": Decimal("100"),
     "payment_timing": "after"},
]}
LINES = [{"description": "Extra shelf", "amount": "1000.00"}]


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def order(store, consumer, store_manager, clock):
    return make_order(store=store, consumer=consumer, actor=store_manager, definition=DESIGN_THEN_PAY)


def _propose(order, store_manager):
    return revision_propose(order=order, actor=store_manager, total_amount="13000.00", reason="measured",
                            lines=LINES)


def _design(order):
    return stage_of(order, "design")


@pytest.mark.parametrize("answer", [revision_accept, revision_decline])
def test_the_due_time_moves_by_exactly_the_pause(order, store_manager, consumer, clock, answer):
    stage = _design(order)
    assert (stage.state, stage.sla_due_at, stage.sla_paused_at) == (S.READY, T0 + 48 * H, None)
    clock.move_to(T0 + 1 * H)
    revision = _propose(order, store_manager)
    stage.refresh_from_db()
    assert stage.sla_paused_at == T0 + 1 * H
    assert ServiceOrder.objects.get(pk=order.pk).sla_held_since == T0 + 1 * H
    clock.move_to(T0 + 4 * H + timedelta(seconds=7))
    answer(revision=revision, actor=consumer)
    stage.refresh_from_db()
    assert stage.sla_paused_at is None
    assert stage.sla_due_at == T0 + 51 * H + timedelta(seconds=7)
    assert stage.waiting_seconds == 3 * 3600 + 7
    assert ServiceOrder.objects.get(pk=order.pk).sla_held_since is None


def test_a_stage_already_waiting_for_approval_is_not_counted_twice(order, store_manager, consumer, clock):
    stage = _design(order)
    clock.move_to(T0 + 1 * H)
    wf.stage_submit(stage=stage, actor=store_manager)  # waits for the consumer's approval: paused
    clock.move_to(T0 + 2 * H)
    revision = _propose(order, store_manager)
    stage.refresh_from_db()
    assert stage.sla_paused_at == T0 + 1 * H  # the one pause goes on
    clock.move_to(T0 + 3 * H)
    revision_decline(revision=revision, actor=consumer)
    stage.refresh_from_db()
    assert stage.sla_paused_at == T0 + 1 * H  # the approval is still awaited: the clock stays stopped
    clock.move_to(T0 + 5 * H)
    wf.stage_approve(stage=stage, actor=consumer)
    stage.refresh_from_db()
    assert stage.state == S.DONE and stage.sla_paused_at is None
    assert stage.waiting_seconds == 4 * 3600  # 1 h -> 5 h once, not 4 h + the revision's 1 h


def test_the_engine_keeps_the_clock_stopped_while_the_revision_is_open(order, store_manager, consumer, clock):
    """Decided: a revision's hold outlasts the engine's own waits. The consumer rejects the design (back to work:
    the engine would restart the clock) while the revision is open: the clock stays stopped until the answer."""
    stage = _design(order)
    clock.move_to(T0 + 1 * H)
    wf.stage_submit(stage=stage, actor=store_manager)
    clock.move_to(T0 + 2 * H)
    revision = _propose(order, store_manager)
    clock.move_to(T0 + 3 * H)
    wf.stage_reject(stage=stage, actor=consumer, reason="too dark")
    stage.refresh_from_db()
    assert stage.state == S.IN_PROGRESS and stage.sla_paused_at == T0 + 1 * H
    clock.move_to(T0 + 6 * H)
    revision_accept(revision=revision, actor=consumer)
    stage.refresh_from_db()
    assert stage.sla_paused_at is None and stage.waiting_seconds == 5 * 3600
    assert stage.sla_due_at == T0 + 53 * H


def test_a_stage_entered_while_the_revision_is_open_starts_stopped(order, store_manager, consumer, clock):
    stage = _design(order)
    wf.stage_submit(stage=stage, actor=store_manager)
    revision = _propose(order, store_manager)
    clock.move_to(T0 + 2 * H)
    wf.stage_approve(stage=stage, actor=consumer)  # design done: "final" (approval, no SLA) is entered held
    final = stage_of(order, "final")
    assert final.state == S.READY and final.sla_paused_at == T0 + 2 * H
    stage.refresh_from_db()
    assert stage.sla_paused_at is None and stage.waiting_seconds == 2 * 3600  # the stage left: its pause ends
    clock.move_to(T0 + 3 * H)
    revision_decline(revision=revision, actor=consumer)
    final.refresh_from_db()
    assert final.sla_paused_at is None and final.waiting_seconds == 3600


def test_cancelling_the_order_ends_the_pause_and_a_later_answer_changes_nothing(order, store_manager, consumer,
                                                                               clock):
    stage = _design(order)
    revision = _propose(order, store_manager)
    clock.move_to(T0 + 2 * H)
    wf.order_cancel(order=order, actor=store_manager, reason="changed plans")
    stage.refresh_from_db()
    assert stage.state == S.CANCELLED and stage.sla_paused_at is None and stage.waiting_seconds == 2 * 3600
    assert PriceRevision.objects.get(pk=revision.pk).status == PriceRevision.Status.OPEN


# --- the clock's arithmetic, in memory: whatever the overlap of the engine's waits and the revision's hold ----------
WAIT, HOLD = "wait", "hold"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([WAIT, HOLD]), st.booleans(), st.integers(min_value=0, max_value=10_000)),
                max_size=20))
def test_waiting_time_is_the_union_of_the_waits(steps):
    """Each step: turn the engine's wait (awaiting approval) or the revision's hold on/off after `gap` seconds. The
    waiting time is the total length of the moments when either was on, never the sum of both; the due time moves by
    exactly that."""
    stage = StageInstance(definition=StageDefinition(requires_appointment=False, sla_hours=None), state=S.IN_PROGRESS,
                          sla_due_at=T0 + 48 * H)
    now, waiting, held, expected = T0, False, False, 0
    for what, on, gap in steps:
        if waiting or held:
            expected += gap
        now += timedelta(seconds=gap)
        if what == WAIT:
            waiting = on
        else:
            held = on
        engine.sla_clock(stage, S.AWAITING_APPROVAL if waiting else S.IN_PROGRESS, now, held=held)
    now += timedelta(seconds=1)
    engine.sla_clock(stage, S.IN_PROGRESS, now, held=False)
    expected += 1 if (waiting or held) else 0
    assert stage.sla_paused_at is None
    assert stage.waiting_seconds == expected
    assert stage.sla_due_at == T0 + 48 * H + timedelta(seconds=expected)


VISIT_THEN_PAY = {"name": "Install", "stages": [
    {"code": "install", "name": "Install", "requires_appointment": True, "sla_hours": 8},
    {"code": "final", "name": "Final", "requires_approval": True, "payment_share": Decimal("100"),
     "payment_timing": "after"},
]}


def test_a_visit_started_while_the_revision_is_open_runs_its_clock_from_the_answer(store, consumer, store_manager,
                                                                                   clock):
    """The on-site clock starts at the visit's start; held by the open revision, it runs only from the answer: the
    due time is the answer + the SLA, not the start + the SLA + the whole pause (which began before the start)."""
    order = make_order(store=store, consumer=consumer, actor=store_manager, definition=VISIT_THEN_PAY)
    engine.fire(order_id=order.pk, trigger="book", actor=store_manager)
    clock.move_to(T0 + 1 * H)
    revision = _propose(order, store_manager)
    clock.move_to(T0 + 2 * H)
    wf.stage_start(stage=stage_of(order, "install"), actor=store_manager)  # the visit starts, the answer awaited
    stage = stage_of(order, "install")
    assert stage.state == S.IN_PROGRESS and stage.sla_paused_at == T0 + 1 * H
    clock.move_to(T0 + 5 * H)
    revision_accept(revision=revision, actor=consumer)
    stage.refresh_from_db()
    assert stage.sla_paused_at is None and stage.sla_due_at == T0 + 13 * H  # 5 h + 8 h
    assert stage.waiting_seconds == 4 * 3600
