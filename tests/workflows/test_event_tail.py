"""The event chain's tail kept for the transaction (workflows.events.remember_tail): the engine's lock reads it with
the order row (workflows.chain_tail: a trigger keeps it there with every event), and after an order's first event
in a transaction the next reads no tail; a savepoint rolled back after an event, or a transaction ended, never
leaves a tail ahead of the table, so the chain still verifies."""

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from tests.factories.workflows import make_order
from workflows import engine
from workflows.chain_tail import DROP_TRIGGER_SQL, FILL_SQL, TRIGGER_EXISTS_SQL
from workflows.events import forget_tails, record_event, verify_chain, written_together
from workflows.models import OrderEvent, ServiceOrder

pytestmark = pytest.mark.django_db

NOTE = "order.note_added"


def tail_reads(ctx) -> int:
    """Statements reading the log's last event; not the lock's subquery (aliased U0), which only compares the
    snapshot's tail with the row's (workflows.waited_locks.fresh_current_stage) and is never used as the tail."""
    return sum('FROM "workflows_orderevent" WHERE' in q["sql"] and "ORDER BY" in q["sql"] and "INSERT" not in q["sql"]
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


def row_tail(order) -> tuple[int, str]:
    return tuple(ServiceOrder.objects.filter(pk=order.pk).values_list("event_tail_seq", "event_tail_hash").get())


def last_event(order) -> tuple[int, str]:
    return tuple(OrderEvent.objects.filter(order=order).order_by("-seq").values_list("seq", "hash")[0])


def test_the_locked_order_brings_its_tail_and_no_event_reads_it(order):
    with transaction.atomic():
        locked = engine.lock_order(order.pk)
        assert (locked.event_tail_seq, locked.event_tail_hash) == last_event(order)
        with CaptureQueriesContext(connection) as ctx:
            first, second, third = note(locked), note(locked), note(locked)
    assert tail_reads(ctx) == 0
    assert (first.seq, first.prev_hash) == (locked.event_tail_seq + 1, locked.event_tail_hash)
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


def test_the_order_row_follows_every_event_and_a_rolled_back_one_is_undone(order):
    with transaction.atomic():
        locked = engine.lock_order(order.pk)
        kept = note(locked, "kept")
        assert row_tail(order) == (kept.seq, kept.hash)
        with pytest.raises(RuntimeError), transaction.atomic():
            note(locked, "rolled back")
            raise RuntimeError
        assert row_tail(order) == (kept.seq, kept.hash)
    assert row_tail(order) == last_event(order)


def test_a_full_save_of_an_order_read_earlier_does_not_put_the_tail_back(order):
    stale = ServiceOrder.objects.get(pk=order.pk)
    with transaction.atomic():
        event = note(engine.lock_order(order.pk))
    stale.cancel_reason = "edited in the admin"
    stale.save()
    assert row_tail(order) == (event.seq, event.hash)
    assert ServiceOrder.objects.get(pk=order.pk).cancel_reason == "edited in the admin"


def test_the_migration_fills_the_tail_of_orders_made_before_it(order):
    ServiceOrder.objects.filter(pk=order.pk).update(event_tail_seq=0, event_tail_hash="")
    with connection.cursor() as cursor:
        cursor.execute(FILL_SQL)
    assert row_tail(order) == last_event(order)
    with transaction.atomic():
        event = note(engine.lock_order(order.pk))
    assert verify_chain(order.pk) is None and event.seq == OrderEvent.objects.filter(order=order).count()


@pytest.mark.django_db(transaction=True)
def test_a_later_transaction_takes_the_tail_from_the_lock(order):
    with transaction.atomic():
        note(engine.lock_order(order.pk), "first")
    with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
        second = note(engine.lock_order(order.pk), "second")
    assert tail_reads(ctx) == 0
    assert (second.seq, second.hash) == last_event(order) == row_tail(order)
    assert verify_chain(order.pk) is None


def test_held_events_are_written_with_the_next_one_in_one_insert(order):
    seen = []
    from workflows import hooks

    hooks.register_event_listener(seen.append)
    try:
        with transaction.atomic():
            locked = engine.lock_order(order.pk)
            with written_together(), CaptureQueriesContext(connection) as ctx:
                held = record_event(order=locked, kind=NOTE, payload={"text": "held"}, hold=True)
                assert held.pk is None and not OrderEvent.objects.filter(order=order, seq=held.seq).exists()
                last = note(locked, "next")
    finally:
        hooks._event_listeners.remove(seen.append)
    inserts = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith('INSERT INTO "workflows_orderevent"')]
    assert len(inserts) == 1
    assert held.pk is not None and (last.seq, last.prev_hash) == (held.seq + 1, held.hash)
    assert [e.seq for e in seen[-2:]] == [held.seq, last.seq]  # listeners in the chain's order, after the INSERT
    assert verify_chain(order.pk) is None and row_tail(order) == (last.seq, last.hash)


def test_a_held_event_is_written_at_the_end_of_the_block_and_never_after_an_exception(order):
    with transaction.atomic():
        locked = engine.lock_order(order.pk)
        with written_together():
            alone = record_event(order=locked, kind=NOTE, payload={"text": "alone"}, hold=True)
        assert alone.pk is not None
        with pytest.raises(RuntimeError), transaction.atomic(), written_together():
            record_event(order=locked, kind=NOTE, payload={"text": "dropped"}, hold=True)
            raise RuntimeError
        after = note(locked, "after")  # outside any block: not held, and nothing held is left to write with it
    assert after.seq == alone.seq + 1
    assert not OrderEvent.objects.filter(order=order, payload__text="dropped").exists()
    assert verify_chain(order.pk) is None


def test_a_migrate_puts_back_a_lost_trigger(order):
    """On SQLite a migration that rebuilds the event table drops its triggers; the tail on the row would stop and the
    order's next transaction would write a duplicate seq. Every `migrate` puts the trigger back when it is missing."""
    order.refresh_from_db()
    before = order.event_tail_seq
    with connection.cursor() as cursor:
        for statement in DROP_TRIGGER_SQL[connection.vendor]:
            cursor.execute(statement)
    note(order)
    order.refresh_from_db()
    assert order.event_tail_seq == before  # lost: the row's tail stopped

    call_command("migrate", verbosity=0)  # puts the trigger back and the tails that stopped meanwhile

    order.refresh_from_db()
    assert order.event_tail_seq == before + 1
    note(order)
    order.refresh_from_db()
    last = OrderEvent.objects.filter(order=order).order_by("-seq").first()
    assert (order.event_tail_seq, order.event_tail_hash) == (last.seq, last.hash)
    assert last.seq == before + 2
    with connection.cursor() as cursor:  # and only when missing: a second migrate leaves it alone
        cursor.execute(TRIGGER_EXISTS_SQL[connection.vendor])
        assert cursor.fetchone()
