"""What a lock that waited returns on PostgreSQL, and how the engine's lock makes up for it.

A `SELECT ... FOR UPDATE OF` the order that waited for another transaction returns the order row as that one left it,
but the rows joined to it as the statement's snapshot saw them before the wait (or none, when the join's key moved):
tests/concurrency/test_engine_lock_races.py.
"""

from __future__ import annotations

from django.db.models import OuterRef, Subquery

from workflows.models import OrderEvent, ServiceOrder, StageInstance


def snapshot_tail(order_ref: str = "pk") -> Subquery:
    """The order's last event seq as the lock statement's snapshot saw it (a subquery is not re-read when the lock
    waited), to compare with the tail on the locked row (which is)."""
    return Subquery(OrderEvent.objects.filter(order_id=OuterRef(order_ref)).order_by("-seq").values("seq")[:1])


def fresh_current_stage(order: ServiceOrder, snapshot_tail: int | None) -> None:
    """PostgreSQL: a lock that waited for another transaction returns the order row as that one left it, but the
    current stage joined to it as the statement's snapshot saw it before the wait, or none when the order moved to
    another stage meanwhile (tests/concurrency/test_engine_lock_races.py). Every change of an order writes an event,
    so a tail on the row ahead of the snapshot's, or a joined stage that is not the row's, means the stage is read
    again: one statement, only after such a wait."""
    if order.current_stage_id is None:
        return
    field = ServiceOrder._meta.get_field("current_stage")
    joined = field.get_cached_value(order, default=None)
    if joined is not None and joined.pk == order.current_stage_id and (snapshot_tail or 0) == order.event_tail_seq:
        return
    field.set_cached_value(order, StageInstance.objects.select_related("definition").get(pk=order.current_stage_id))
