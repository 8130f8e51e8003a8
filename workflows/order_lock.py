"""Locking an order for a state change, and the engine's read of its stages. Always the order first, then its
children (docs/architecture.md: each state change locks the order row first).

`lock_order` brings the order row with what a step within its stage needs (the store, the consumer, the current
stage). `lock_order_and_stages` brings all its stages in the same statement, for a step that may move the order to
another stage (which reads them all): one statement fewer for an approval. `lock_order_with` locks a row of the
order's (a visit) with it. Each makes up for what a lock that waited returns (workflows.waited_locks).
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from core.compiled import CompiledQuery
from core.errors import NotFound
from workflows import hooks
from workflows.events import remember_tail
from workflows.models import ServiceOrder, StageInstance
from workflows.waited_locks import fresh_current_stage, snapshot_tail

_STAGE_ORDER = StageInstance._meta.get_field("order")
_CURRENT_STAGE = ServiceOrder._meta.get_field("current_stage")


def _lock_related(prefix: str = "", *, current_stage: bool = True) -> list[str]:
    # The store, the consumer and the current stage come along (unlocked; the order's lock guards its
    # stages): a step within a stage needs no other read, and the listeners word messages with them.
    paths = ("store", "consumer", *(("current_stage__definition",) if current_stage else ()),
             *hooks.order_lock_related())
    return [prefix + path for path in paths]


def _locked(order: ServiceOrder, tail_at_snapshot: int | None) -> ServiceOrder:
    fresh_current_stage(order, tail_at_snapshot)
    if order.current_stage is not None:  # stage.order is this very instance, as for stages read through it
        _STAGE_ORDER.set_cached_value(order.current_stage, order)
    # The chain's tail came with the locked row (workflows.chain_tail): this transaction's first event reads none.
    remember_tail(order.pk, order.event_tail_seq, order.event_tail_hash)
    return order


# Compiled once per connection (core.compiled): compiling this six-table select cost more than running it.
_LOCK_ORDER = CompiledQuery("engine.lock_order", lambda order_id: (
    ServiceOrder.objects.select_related(*_lock_related()).select_for_update(of=("self",))
    .annotate(_snapshot_tail=snapshot_tail()).filter(pk=order_id)))


def lock_order(order_id: int) -> ServiceOrder:
    """Lock an order row for a state change. Always lock the order before its children."""
    rows = _LOCK_ORDER.models(order_id=int(order_id), shape=hooks.order_lock_related())  # an id as Django takes it
    if not rows:
        raise NotFound(_("No such order."))
    return _locked(rows[0], rows[0]._snapshot_tail)


# The order's stages, each with its order joined and locked (`FOR UPDATE OF` the order only: one row lock, as
# lock_order takes) and the rows other apps read along (hooks.register_stage_row); the order is one instance.
_LOCK_ORDER_AND_STAGES = CompiledQuery("engine.lock_order_and_stages", lambda order_id: (
    StageInstance.objects.filter(order_id=order_id).annotate(**(rows := hooks.stage_rows()))
    .select_related("definition", *rows, *_lock_related("order__", current_stage=False))
    .select_for_update(of=("order",)).annotate(_snapshot_tail=snapshot_tail("order_id")).order_by("position")))


def lock_order_and_stages(order_id: int) -> ServiceOrder:
    """lock_order, with the order's stages read in the same statement (`order_stages` reads nothing more). After
    a wait for the lock that changed the order (the tail on the row ahead of the snapshot's) the stages are as the
    snapshot saw them, so they are read again: one statement, only then."""
    shape = (hooks.order_lock_related(), hooks.stage_row_names())
    stages = _LOCK_ORDER_AND_STAGES.models(order_id=int(order_id), shape=shape, share_related=True)
    if not stages:  # no such order (or one without stages): the plain lock answers
        return lock_order(order_id)
    order = stages[0].order
    if (stages[0]._snapshot_tail or 0) != order.event_tail_seq:
        stages = _read_stages(order, shape[1])  # a new snapshot, the lock held
    _CURRENT_STAGE.set_cached_value(order, next((s for s in stages if s.pk == order.current_stage_id), None))
    order._engine_stages = _index(stages, current=None, names=shape[1])
    order._stage_rows_fresh = True  # the other apps' rows read along hold for the first step (engine._fire_locked)
    return _locked(order, order.event_tail_seq)  # the current stage is one of the stages just read


def lock_order_with(queryset: QuerySet, *, via: str = "order"):
    """The first row of `queryset` (a row of an order's: a visit) locked with its order in one statement: `FOR UPDATE
    OF` the order, then the row (PostgreSQL locks them in that order, so the order is still locked first; a lock that
    waited re-reads both rows). The order (`row.<via>`) comes as `lock_order` brings it. None when no row matches
    (nothing is locked). Only columns of the two locked rows are read fresh after a wait: an annotation beside them
    is evaluated in the statement's snapshot, taken before the wait."""
    rows = (queryset.select_related(*_lock_related(f"{via}__")).select_for_update(of=(via, "self"))
            .annotate(_order_snapshot_tail=snapshot_tail(f"{via}_id")).order_by()[:1])
    row = next(iter(rows), None)
    if row is not None:
        _locked(getattr(row, via), row._order_snapshot_tail)
    return row


_ORDER_STAGES = CompiledQuery("engine.order_stages", lambda order_id: (
    StageInstance.objects.filter(order_id=order_id).annotate(**(rows := hooks.stage_rows()))
    .select_related("definition", *rows).order_by("position")))


def _read_stages(order: ServiceOrder, names: tuple[str, ...]) -> list[StageInstance]:
    """The order's stages in position order, read now, each with this order instance as its order (as
    order.stages would give them)."""
    rows = _ORDER_STAGES.models(order_id=order.pk, shape=names)
    for stage in rows:
        _STAGE_ORDER.set_cached_value(stage, order)
    return rows


def _index(stages: list[StageInstance], current: StageInstance | None, names: tuple[str, ...]) -> dict:
    """{code: stage} in position order, `current` (the lock's instance) in place of its row's: one copy of it."""
    by_code = {}
    for stage in stages:
        kept = current if current is not None and current.pk == stage.pk else stage
        for name in names:  # None where the stage has no such row; the lock's instance of the stage carries them
            setattr(kept, name, getattr(stage, name, None))
        by_code[stage.definition.code] = kept
    return by_code


def stages_by_code(order: ServiceOrder) -> dict[str, StageInstance]:
    """All the order's stages with their definitions, read once per locked order instance (none when the lock
    brought them: lock_order_and_stages). The current stage keeps the instance the lock loaded, so there is never
    a second copy of it to save."""
    stages = getattr(order, "_engine_stages", None)
    if stages is None:
        names = hooks.stage_row_names()  # other apps' rows read along (hooks.register_stage_row)
        stages = order._engine_stages = _index(_read_stages(order, names), loaded_current_stage(order), names)
    return stages


def loaded_current_stage(order: ServiceOrder) -> StageInstance | None:
    if not _CURRENT_STAGE.is_cached(order) or order.current_stage is None:
        return None
    stage = order.current_stage
    return stage if StageInstance._meta.get_field("definition").is_cached(stage) else None
