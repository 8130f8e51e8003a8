"""Extension points of the stage engine.

Other apps (payments, vouchers, fieldwork) register guards and effects in their
AppConfig.ready(); the engine asks the guards and runs the effects, and never imports those
apps. There are no signals between apps: this registry is the whole wiring, in one place.

A guard is `fn(order, stage) -> str | None`: None lets the trigger pass, a string is the
reason it cannot happen yet (shown to the caller in the 409 body).
An effect is `fn(ctx: TransitionContext) -> None`, run inside the transition's transaction,
after the state change and its event are written.
A booking deadline is `fn(stage) -> BookingDeadline | None`: visits of the stage must end by then
(booking and rescheduling refuse a later window; the slots listing stops there).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workflows.models import OrderEvent, ServiceOrder, StageInstance

GuardFn = Callable[["ServiceOrder", "StageInstance"], "str | None"]

# Triggers whose guards other apps can extend.
GUARDED_TRIGGERS = ("unblock", "book", "start", "complete", "approve", "settle")

_guards: dict[str, list[GuardFn]] = defaultdict(list)
_effects: list[Callable[[TransitionContext], None]] = []


@dataclass
class TransitionContext:
    order: ServiceOrder
    trigger: str
    from_state: str
    to_state: str
    actor: Any
    stage: StageInstance | None  # the stage the trigger was fired on
    entered_stage: StageInstance | None  # the stage now current, when the trigger moved to another stage
    event: OrderEvent
    payload: dict = field(default_factory=dict)

    @property
    def to_sub(self) -> str:
        return self.to_state.partition(":")[2]


def register_guard(trigger: str, fn: GuardFn) -> None:
    if trigger not in GUARDED_TRIGGERS:
        raise ValueError(f"unknown guarded trigger {trigger!r}")
    if fn not in _guards[trigger]:
        _guards[trigger].append(fn)


def register_effect(fn: Callable[[TransitionContext], None]) -> None:
    if fn not in _effects:
        _effects.append(fn)


def guard_failures(trigger: str, order: ServiceOrder, stage: StageInstance) -> list[str]:
    return [reason for fn in _guards.get(trigger, ()) if (reason := fn(order, stage))]


def run_effects(ctx: TransitionContext) -> None:
    for fn in _effects:
        fn(ctx)


# --- booking deadlines ------------------------------------------------------------
# An on-site visit is useless if it falls after something the stage needs has lapsed (the stage's
# e-voucher expires: it can no longer be redeemed on site). An app gives such a limit as
# `fn(stage) -> BookingDeadline | None`: every visit of the stage must end by `until`. Booking and
# rescheduling refuse a later window (400 on `window_start`, with `reason`), and the slots listing stops
# at the earliest deadline, so it never offers a window that would be refused. Called with no lock held
# beyond the order's; one query at most per deadline function.


@dataclass(frozen=True)
class BookingDeadline:
    until: datetime
    reason: str  # shown to the consumer: why visits must end by `until`


_booking_deadlines: list[Callable[[StageInstance], BookingDeadline | None]] = []


def register_booking_deadline(fn: Callable[[StageInstance], BookingDeadline | None]) -> None:
    if fn not in _booking_deadlines:
        _booking_deadlines.append(fn)


def booking_deadline(stage: StageInstance) -> BookingDeadline | None:
    """The earliest deadline registered apps give for visits of this stage (None: no limit but the horizon)."""
    found = [d for fn in _booking_deadlines if (d := fn(stage)) is not None]
    return min(found, key=lambda d: d.until, default=None)


# --- order detail sections ---------------------------------------------------
# Apps add what they own to the order detail (installments, vouchers, check-ins) without the
# workflows API importing them. `load(orders)` reads, in a fixed number of queries for all the
# orders together (plain values, no model instances), what the section shows and keeps it on each
# order; `serialize(order, request)` then reads only what load kept, so the detail costs the same
# number of queries whatever the number of stages and events. workflows loads its own rows first:
# `order.detail_stages` and `order.detail_appointments` (lists of dicts) are there for sections.
# What a section shows must come from the order's own rows, changed only together with an order
# event: the detail is cached per order version (workflows.detail_cache). A section whose value
# holds a secret (the consumer's voucher codes) gives `seal(value)` and `unseal(value)`: the cache
# keeps the sealed (encrypted) form only. `schema()` returns a new (unbound) DRF field describing the
# section's value: OrderDetailSerializer adds it, so the published OpenAPI schema lists every section.


@dataclass(frozen=True)
class OrderSection:
    name: str
    load: Callable[[list], None] | None
    serialize: Callable[[Any, Any], Any]
    schema: Callable[[], Any]
    seal: Callable[[Any], Any] | None = None
    unseal: Callable[[Any], Any] | None = None


_order_sections: dict[str, OrderSection] = {}


def register_order_section(
    name: str,
    *,
    load: Callable[[list], None] | None = None,
    serialize: Callable[[Any, Any], Any],
    schema: Callable[[], Any],
    seal: Callable[[Any], Any] | None = None,
    unseal: Callable[[Any], Any] | None = None,
) -> None:
    _order_sections[name] = OrderSection(name=name, load=load, serialize=serialize, schema=schema, seal=seal,
                                         unseal=unseal)


def order_sections() -> list[OrderSection]:
    return list(_order_sections.values())


# --- event listeners -----------------------------------------------------------
# Called by workflows.events.record_event for every event, inside the same transaction, so
# whatever a listener writes (a notification in the outbox, an outbound webhook delivery) commits
# or rolls back with the event itself. Listeners must not do I/O: they write rows and, at most,
# queue work with transaction.on_commit.

_event_listeners: list[Callable[[Any], None]] = []


def register_event_listener(fn: Callable[[Any], None]) -> None:
    if fn not in _event_listeners:
        _event_listeners.append(fn)


def notify_event_listeners(event) -> None:
    for fn in _event_listeners:
        fn(event)


# --- what the order's lock reads along ----------------------------------------------------------
# The engine locks the order with select_related(store, consumer, current stage); an app whose
# listener reads more about the order for nearly every event can add a path here (a forward or
# one-to-one relation, read unlocked), which saves that listener a query per event.

_order_lock_related: list[str] = []


def register_order_lock_related(*paths: str) -> None:
    for path in paths:
        if path not in _order_lock_related:
            _order_lock_related.append(path)


def order_lock_related() -> tuple[str, ...]:
    return tuple(_order_lock_related)
