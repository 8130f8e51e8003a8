"""Check-ins racing through the real HTTP stack on PostgreSQL (the helpers and their guarantees: test_http_races).

A check-in locks its visit with its order in one statement (engine.lock_order_with: the order first), takes the
event chain's tail from the locked order row (workflows.chain_tail) and writes its events with the stage's start
in one INSERT. A retry that waited for the lock cannot see the first one's stored answer in its lock's snapshot:
it must still answer that answer (a replay), never a 409 or a second check-in, and the chain must verify.
"""

from __future__ import annotations

import pytest

from fieldwork.models import CheckIn
from tests.concurrency.test_http_races import Call, fire_together, statuses, token_header
from tests.factories.fieldwork import book_visit, make_field_order, make_field_template, starting_soon
from tests.fieldwork.helpers import check_in_body, job_url
from workflows.events import verify_chain
from workflows.models import OrderEvent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS, CLIENTS = 4, 16


def _visit(store, consumer, technician, store_manager, template):
    order = make_field_order(store=store, consumer=consumer, template=template)
    return starting_soon(book_visit(order=order, code="measuring", consumer=consumer, technician=technician,
                                    manager=store_manager))


def _one_check_in_and_start(visit) -> None:
    kinds = list(OrderEvent.objects.filter(order_id=visit.order_id).values_list("kind", flat=True))
    assert kinds.count("job.checked_in") == 1 and kinds.count("stage.start") == 1, kinds
    assert CheckIn.objects.filter(appointment=visit).count() == 1
    assert verify_chain(visit.order_id) is None
    visit.order.refresh_from_db()
    assert visit.order.state == "measuring:in_progress"
    assert visit.order.event_tail_seq == len(kinds)


def _rounds(merchant, store, consumer, technician, store_manager):
    """A new visit starting soon for each round, with the technician's token header."""
    template = make_field_template(merchant=merchant, stores=[store])
    auth = token_header(technician)
    for _ in range(ROUNDS):
        yield _visit(store, consumer, technician, store_manager, template), auth


def test_identical_check_ins_racing_answer_the_first_ones_answer(
        live_server, merchant, store, consumer, technician, store_manager):
    for visit, auth in _rounds(merchant, store, consumer, technician, store_manager):
        call = Call(job_url(visit, "check-in"), check_in_body(visit.order), auth)
        replies = fire_together(live_server, [call] * CLIENTS)
        assert statuses(replies) == {(201, None): CLIENTS}, statuses(replies)
        assert sum(r.headers.get("client-event-replayed") != "true" for r in replies) == 1
        assert all(r.body == replies[0].body for r in replies)
        _one_check_in_and_start(visit)


def test_check_ins_with_different_ids_racing_check_in_once(
        live_server, merchant, store, consumer, technician, store_manager):
    for visit, auth in _rounds(merchant, store, consumer, technician, store_manager):
        calls = [Call(job_url(visit, "check-in"), check_in_body(visit.order), auth) for _ in range(CLIENTS)]
        counts = statuses(fire_together(live_server, calls))
        assert counts[(201, None)] == 1, counts
        assert sum(n for (status, _), n in counts.items() if status == 409) == CLIENTS - 1, counts
        _one_check_in_and_start(visit)
