"""Two steps of one order racing on PostgreSQL: the second waits for the first's lock on the order.

A `SELECT ... FOR UPDATE OF` the order that waited returns the order row as the first transaction left it, but the
rows joined to it (its current stage) as the statement's snapshot saw them before the wait, or none at all when the
order moved to another stage meanwhile. The engine must not act on (and save back) that old stage.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from demo.builder import Driver
from tests.factories.workflows import make_order, make_template
from workflows import engine
from workflows.events import verify_chain
from workflows.models import StageInstance
from workflows.reference import CUSTOM_WARDROBE

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _design_ready(store, consumer, store_manager, technician):
    template = make_template(merchant=store.merchant, stores=[store], definition=CUSTOM_WARDROBE)
    order = make_order(store=store, consumer=consumer, template=template, actor=store_manager)
    Driver(order=order, manager=store_manager, technician=technician).run_to("design:ready")
    return order


def _race(order_id: int, first: str, second: str, actor, second_actor=None) -> list:
    """`first` fired and held uncommitted while `second` is fired from another connection (it waits for the lock),
    then committed. Returns the errors of each thread (none expected)."""
    held, errors = threading.Event(), []

    def run_first():
        try:
            with transaction.atomic():
                engine.fire(order_id=order_id, trigger=first, actor=actor)
                held.set()
                time.sleep(1.0)  # the second one is waiting on the order's lock now
        except Exception as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)
        finally:
            held.set()
            connection.close()

    def run_second():
        try:
            held.wait(10)
            engine.fire(order_id=order_id, trigger=second, actor=second_actor or actor)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run_first), threading.Thread(target=run_second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return errors


def test_a_step_that_waited_for_the_lock_keeps_what_the_first_step_wrote_on_the_stage(
        store, consumer, store_manager, technician):
    order = _design_ready(store, consumer, store_manager, technician)
    assert _race(order.pk, "start", "complete", store_manager) == []
    design = StageInstance.objects.get(order=order, definition__code="design")
    assert design.state == StageInstance.State.AWAITING_APPROVAL
    assert design.started_at is not None, "the waited step saved the stage it read before the wait"
    assert design.submitted_at is not None and design.started_at <= design.submitted_at
    assert verify_chain(order.pk) is None


def test_an_approval_that_waited_for_the_lock_moves_the_stages_as_the_first_step_left_them(
        store, consumer, store_manager, technician):
    """The approval locks the order with all its stages in one statement (order_lock.lock_order_and_stages); after
    the wait the design it read is still in progress in the statement's snapshot: it must read them again, or it
    would refuse (not awaiting approval) or save the old design back."""
    order = _design_ready(store, consumer, store_manager, technician)
    engine.fire(order_id=order.pk, trigger="start", actor=store_manager)
    assert _race(order.pk, "complete", "approve", store_manager, second_actor=consumer) == []
    stages = {s.definition.code: s for s in StageInstance.objects.filter(order=order).select_related("definition")}
    order.refresh_from_db()
    assert order.state == "installation:waiting_payment"
    assert stages["design"].state == StageInstance.State.DONE
    assert stages["design"].submitted_at is not None, "the approval saved the design it read before the wait"
    # The design's clock stood still while it waited on the consumer (from the hand-in): the approval folds that
    # pause into its waiting time, which only the design as the first step left it shows.
    assert stages["design"].sla_paused_at is None, "the approval acted on the design as it was before the wait"
    assert stages["design"].waiting_seconds >= 1
    assert stages["installation"].state == StageInstance.State.WAITING_PAYMENT
    assert order.current_stage_id == stages["installation"].pk
    assert verify_chain(order.pk) is None


def test_a_step_that_waited_while_the_order_moved_on_sees_the_new_current_stage(
        store, consumer, store_manager, technician):
    order = _design_ready(store, consumer, store_manager, technician)
    engine.fire(order_id=order.pk, trigger="start", actor=store_manager)
    engine.fire(order_id=order.pk, trigger="complete", actor=store_manager)
    # The consumer approves (the order moves to the installation) while a manager's read of the order waits.
    order.refresh_from_db()
    seen = {}

    def read_locked():
        with transaction.atomic():
            locked = engine.lock_order(order.pk)
            seen["stage"] = locked.current_stage
            seen["stage_id"] = locked.current_stage_id

    held = threading.Event()

    def approve():
        with transaction.atomic():
            engine.fire(order_id=order.pk, trigger="approve", actor=order.consumer)
            held.set()
            time.sleep(1.0)
        connection.close()

    def reader():
        held.wait(10)
        read_locked()
        connection.close()

    threads = [threading.Thread(target=approve), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert seen["stage"] is not None and seen["stage"].pk == seen["stage_id"]
    assert seen["stage"].definition.code == "installation"
