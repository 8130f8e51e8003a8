"""The event chain's tail kept for the transaction (workflows.events.remember_tail): after an order's first event in a
transaction the next reads no tail; a savepoint rolled back after an event, or a transaction ended, never leaves a
tail ahead of the table, so the chain still verifies."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from tests.factories.workflows import make_order
from workflows import engine
from workflows.events import forget_tails, record_event, verify_chain
from workflows.models import OrderEvent

pytestmark = pytest.mark.django_db

NOTE = "order.note_added"


def tail_reads(ctx) -> int:
    return sum('FROM "workflows_orderevent"' in q["sql"] and "ORDER BY" in q["sql"] and "INSERT" not in q["sql"]
               for q in ctx.captured_queries)


def note(order, text="x"):
    return record_event(order=order, kind=NOTE, payload={"text": text})


@pytest.fixture
def order(store, consumer, store_manager):
    made = make_order(store=store, consumer=consumer, actor=store_manager)
    forget_tails()  # the test's transaction holds the creation's tail; each test below starts as a new one would
    return made


@pytest.fixture(autouse=True)
def _note_kind(settings):
    settings.EVENT_KINDS_STRICT = False  # a kind of this test's own (logged as undeclared, recorded all the same)


def test_only_the_first_event_of_a_transaction_reads_the_tail(order):
    with transaction.atomic():
        locked = engine.lock_order(order.pk)
        with CaptureQueriesContext(connection) as ctx:
            first, second, third = note(locked), note(locked), note(locked)
    assert tail_reads(ctx) == 1
    assert (third.seq, third.prev_hash) == (second.seq + 1, second.hash)
    assert (second.seq, second.prev_hash) == (first.seq + 1, first.hash)
    assert verify_chain(order.pk) is None


def test_a_rolled_back_savepoint_leaves_no_tail_ahead(order):
    with transaction.atomic():
        locked = engine.lock_order(order.pk)
        kept = note(locked, "kept")
        with pytest.raises(RuntimeError), transaction.atomic():
            note(locked, "rolled back")
            raise RuntimeError
        with CaptureQueriesContext(connection) as ctx:
            after = note(locked, "after")
    assert tail_reads(ctx) == 1  # the tail written in the rolled-back savepoint is not trusted: read again
    assert (after.seq, after.prev_hash) == (kept.seq + 1, kept.hash)
    assert verify_chain(order.pk) is None


def test_a_released_savepoint_keeps_its_tail(order):
    with transaction.atomic():
        locked = engine.lock_order(order.pk)
        with transaction.atomic():
            inner = note(locked, "inner")
        with CaptureQueriesContext(connection) as ctx:
            after = note(locked, "after")
    assert tail_reads(ctx) == 0
    assert (after.seq, after.prev_hash) == (inner.seq + 1, inner.hash)
    assert verify_chain(order.pk) is None


@pytest.mark.django_db(transaction=True)  # real transactions: the test's own would hold the first one's mark
def test_a_later_transaction_reads_the_tail_again(order):
    with transaction.atomic():
        note(engine.lock_order(order.pk), "first")
    with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
        note(order, "without the lock's tail")
    assert tail_reads(ctx) == 1
    assert verify_chain(order.pk) is None


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_leaves_no_tail(order):
    with pytest.raises(RuntimeError), transaction.atomic():
        note(engine.lock_order(order.pk), "rolled back")
        raise RuntimeError
    with transaction.atomic():
        event = note(order, "after")
    assert event.seq == OrderEvent.objects.filter(order=order).count()
    assert verify_chain(order.pk) is None
