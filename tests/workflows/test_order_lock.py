"""workflows.order_lock: the lock of an order with all its stages in one statement (for a step that may leave its
stage) brings what the plain lock and the engine's read of the stages bring, as the engine's own instances.

Its wait on PostgreSQL (stages read again when another step changed them meanwhile) is
tests/concurrency/test_engine_lock_races.py."""

import pytest
from django.db import transaction

from core.errors import NotFound
from demo.builder import Driver
from tests.factories.workflows import make_order, make_template
from workflows import engine, hooks
from workflows.reference import CUSTOM_WARDROBE

pytestmark = pytest.mark.django_db


@pytest.fixture
def wardrobe_at_design(store, consumer, store_manager, technician):
    """The reference wardrobe at its design: stages before and after, installments paid and still to fall due."""
    template = make_template(merchant=store.merchant, stores=[store], definition=CUSTOM_WARDROBE)
    order = make_order(store=store, consumer=consumer, template=template, actor=store_manager)
    Driver(order=order, manager=store_manager, technician=technician).run_to("design:ready")
    return order


def seen(order) -> list[tuple]:
    """Each stage as the engine sees it, with the other apps' rows read along (payments: the gating installments)."""
    return [(s.pk, s.position, s.definition.code, s.state, s.entered_at, s.sla_due_at,
             *(getattr(getattr(s, name, None), "pk", None) for name in hooks.stage_row_names()))
            for s in engine.order_stages(order)]


def test_the_lock_with_stages_brings_what_the_lock_and_the_stages_read_bring(wardrobe_at_design,
                                                                           django_assert_num_queries):
    assert hooks.stage_row_names(), "payments reads the installments that gate a stage along"
    with transaction.atomic():
        expected = seen(engine.lock_order(wardrobe_at_design.pk))
    with transaction.atomic():
        with django_assert_num_queries(1):
            locked = engine.lock_order_and_stages(wardrobe_at_design.pk)
        with django_assert_num_queries(0):
            stages = engine.order_stages(locked)
            assert seen(locked) == expected
    assert any(row[6:] != (None,) * len(hooks.stage_row_names()) for row in expected), "some stage is gated"
    assert all(stage.order is locked for stage in stages)  # one order instance, the locked one
    current = [stage for stage in stages if stage.pk == locked.current_stage_id]
    assert [stage.definition.code for stage in current] == ["design"]
    assert locked.current_stage is current[0]  # one instance of the current stage: never two copies to save
    assert locked.store.pk == wardrobe_at_design.store_id and locked.consumer.pk == wardrobe_at_design.consumer_id


def test_the_lock_with_stages_refuses_an_order_that_does_not_exist(wardrobe_at_design):
    with transaction.atomic(), pytest.raises(NotFound):
        engine.lock_order_and_stages(wardrobe_at_design.pk + 10_000)
