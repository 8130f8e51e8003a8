"""The SLA clock held while the order waits on the consumer for something outside the engine's states: a price
revision's answer (payments). The caller holds the order's row lock (`engine.lock_order`) inside its transaction.

`pause_sla_clock` stops the current stage's clock (unless it already stands still: waiting for a payment or an
approval, the pause is one and is counted once) and marks the order held (`sla_held_since`), so the engine keeps
the clock stopped whatever sub-state the order moves to meanwhile, and a stage entered meanwhile starts stopped.
`resume_sla_clock` lifts the hold: the clock runs again unless the stage now waits on the consumer in the engine's
own states (then it resumes when that wait ends); the due time moves by the pause, which adds to `waiting_seconds`.
"""

from __future__ import annotations

from datetime import datetime

from workflows import engine
from workflows.models import ServiceOrder

_CLOCK_FIELDS = ["sla_due_at", "sla_paused_at", "waiting_seconds"]


def _current_clock(order: ServiceOrder, now: datetime, *, held: bool) -> None:
    stage = order.current_stage
    if stage is None:
        return
    before = [getattr(stage, f) for f in _CLOCK_FIELDS]
    engine.sla_clock(stage, stage.state, now, held=held)
    if [getattr(stage, f) for f in _CLOCK_FIELDS] != before:
        stage.save(update_fields=_CLOCK_FIELDS)


def pause_sla_clock(order: ServiceOrder, now: datetime) -> bool:
    """Hold the order's SLA clock from `now`; False when it was already held (nothing changes)."""
    if order.sla_held_since is not None:
        return False
    order.sla_held_since = now
    order.save(update_fields=["sla_held_since"])
    _current_clock(order, now, held=True)
    return True


def resume_sla_clock(order: ServiceOrder, now: datetime) -> bool:
    """Lift the hold at `now`; False when the order was not held."""
    if order.sla_held_since is None:
        return False
    order.sla_held_since = None
    order.save(update_fields=["sla_held_since"])
    _current_clock(order, now, held=False)
    return True
