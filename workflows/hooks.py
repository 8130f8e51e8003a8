"""Extension points of the stage engine: the whole wiring between the engine and the apps above it.

Each app that plugs in does it in one module, `<app>/plugin.py`, whose `register()` its
`AppConfig.ready()` calls (copy `vouchers/plugin.py` to start a new one). The engine asks the guards,
runs the effects and reads the sections, and never imports those apps. There are no signals between
apps.

A guard is `fn(order, stage) -> str | None`: None lets the trigger pass, a string is the
reason it cannot happen yet (shown to the caller in the 409 body).
An effect is `fn(ctx: TransitionContext) -> None`, registered for the triggers it follows, run inside
the transition's transaction, after the state change and its event are written.
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
# Triggers effects can follow: the engine's, and "create" (the order's first state).
TRIGGERS = ("create", "unblock", "settle", "book", "reschedule", "start", "complete", "approve", "reject",
            "resume", "cancel")

_guards: dict[str, list[GuardFn]] = defaultdict(list)
_effects: dict[str, list[Callable[[TransitionContext], None]]] = defaultdict(list)


@dataclass
class TransitionContext:
    order: ServiceOrder
    trigger: str
    from_state: str
    to_state: str
    actor: Any
    stage: StageInstance | None  # the stage the trigger was fired on
    entered_stage: StageInstance | None  # the stage now current, when the trigger moved to another stage
    event: OrderEvent  # while the effects run, not written yet (no id): workflows.engine._fire_locked
    payload: dict = field(default_factory=dict)

    @property
    def to_sub(self) -> str:
        return self.to_state.partition(":")[2]


def register_guard(trigger: str, fn: GuardFn) -> None:
    if trigger not in GUARDED_TRIGGERS:
        raise ValueError(f"unknown guarded trigger {trigger!r}")
    if fn not in _guards[trigger]:
        _guards[trigger].append(fn)


def register_effect(triggers: str | tuple[str, ...], fn: Callable[[TransitionContext], None]) -> None:
    """Run `fn` after each of these triggers (in the order effects were registered for the trigger)."""
    for trigger in (triggers,) if isinstance(triggers, str) else triggers:
        if trigger not in TRIGGERS:
            raise ValueError(f"unknown trigger {trigger!r}")
        if fn not in _effects[trigger]:
            _effects[trigger].append(fn)


def unregister_effect(fn: Callable[[TransitionContext], None]) -> None:
    """Forget `fn` for every trigger (tests that register a temporary effect)."""
    for fns in _effects.values():
        if fn in fns:
            fns.remove(fn)


def guard_failures(trigger: str, order: ServiceOrder, stage: StageInstance) -> list[str]:
    return [reason for fn in _guards.get(trigger, ()) if (reason := fn(order, stage))]


def run_effects(ctx: TransitionContext) -> None:
    for fn in _effects.get(ctx.trigger, ()):
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


# --- where a visit took place ---------------------------------------------------------------------
# Where the technician was for a visit (the field-work app's check-in), for other apps that record it
# beside what they do on site (a voucher redeemed on the job). `fn(appointment) -> (lat, lon) | None`.

_visit_locations: list[Callable[[Any], tuple | None]] = []


def register_visit_location(fn: Callable[[Any], tuple | None]) -> None:
    if fn not in _visit_locations:
        _visit_locations.append(fn)


def visit_location(appointment) -> tuple:
    """(latitude, longitude) where the visit was checked in, or (None, None) when nobody knows."""
    for fn in _visit_locations:
        if (found := fn(appointment)) is not None:
            return found
    return None, None


# --- what other apps know about a stage ---------------------------------------------------------------
# Facts an app owns about one stage, for another app's screen (the technician's job shows whether the stage's
# e-voucher is redeemed): `fn(stage) -> value`, registered under a name; `stage_facts(stage)` asks each once.

_stage_facts: dict[str, Callable[[Any], Any]] = {}


def register_stage_fact(name: str, fn: Callable[[Any], Any]) -> None:
    _stage_facts[name] = fn


def stage_facts(stage) -> dict[str, Any]:
    return {name: fn(stage) for name, fn in _stage_facts.items()}


# --- SLA scans and platform figures (read by insights) ------------------------------------------------
# An app that owns something with a deadline (payments: installments) finds what is overdue itself and hands
# each breach to `record` (insights' recorder: it locks the order, re-checks with `still_breached(order)`, and
# writes the breach and its "sla.<kind>" event once). `fn(now, batch_size, record) -> breaches recorded`.
# An app that owns figures of the platform report (payments: money) computes them for a queryset of orders
# and a period: `fn(orders, start, end) -> value` (JSON-ready), shown under its name in the metrics.
# So that the metrics read days, not every row, such a figure may also give
# - `day_rows(orders, start, end, tz)`: its additive components of facts dated in [start, end) (dated when written
#   and never changed afterwards), as (day in tz, merchant id, store id, key, count, exact Decimal total or None)
#   rows. insights' roll-up job keeps them per day with its own (under the figure's name) and a window adds up
#   the rolled days and the live rest; the figure is then called as `fn(orders, start, end, days=..., scope=...)`
#   with days = {key: [count, total]} over the window (None: compute it live) and the metrics' scope (user,
#   merchant, store, technician, start, end);
# - `job(now)`: run by the same roll-up job after the days (payments: a snapshot of what is owed now).

_sla_scans: dict[str, Callable[..., int]] = {}
_order_figures: dict[str, Callable[..., Any]] = {}


def register_sla_scan(kind: str, fn: Callable[..., int]) -> None:
    _sla_scans[kind] = fn


def sla_scans() -> dict[str, Callable[..., int]]:
    return dict(_sla_scans)


# Whether such a breach's subject is still overdue, for insights' escalation (a breach over is not escalated):
# `fn(subject_id) -> bool`, the subject the app's scan recorded (payments: the installment, still due).
_sla_still_overdue: dict[str, Callable[[int], bool]] = {}


def register_sla_still_overdue(kind: str, fn: Callable[[int], bool]) -> None:
    _sla_still_overdue[kind] = fn


def sla_still_overdue(kind: str) -> Callable[[int], bool] | None:
    return _sla_still_overdue.get(kind)


@dataclass(frozen=True)
class FigureRollup:
    day_rows: Callable[..., Any] | None = None
    job: Callable[[Any], Any] | None = None


_figure_rollups: dict[str, FigureRollup] = {}


def register_order_figure(name: str, fn: Callable[..., Any], *, day_rows: Callable[..., Any] | None = None,
                          job: Callable[[Any], Any] | None = None) -> None:
    _order_figures[name] = fn
    if day_rows is not None or job is not None:
        _figure_rollups[name] = FigureRollup(day_rows=day_rows, job=job)


def order_figures() -> dict[str, Callable[..., Any]]:
    return dict(_order_figures)


def figure_rollups() -> dict[str, FigureRollup]:
    return dict(_figure_rollups)


# --- order detail sections ---------------------------------------------------
# Apps add what they own to the order detail (installments, vouchers, check-ins) without the
# workflows API importing them. workflows reads its own rows first, into one `OrderDetailRows` per
# order. Then each section's `load(details)` reads, in a fixed number of queries for all the orders
# together (plain values, no model instances), what it shows, and returns it keyed by order id
# ({order id: data}); it never sets attributes on models. `serialize(detail, request)` then reads only
# `detail.sections[<its name>]` (and the workflow's rows, or another section's data by name), so the
# detail costs the same number of queries whatever the number of stages and events.
# What a section shows must come from the order's own rows, changed only together with an order
# event: the detail is cached per order version (workflows.detail_cache). A section whose value
# holds a secret (the consumer's voucher codes) gives `seal(value)` and `unseal(value)`: the cache
# keeps the sealed (encrypted) form only. `schema()` returns a new (unbound) DRF field describing the
# section's value: OrderDetailSerializer adds it, so the published OpenAPI schema lists every section.
# A section whose data is a few values per order may instead give `annotate()`: {name: expression} added to
# the query that reads the order row itself (workflows.selectors.order_detail_queryset), so it costs no query of
# its own; its load then reads those attributes from `detail.order` (and queries only for orders read without
# them).


@dataclass
class OrderDetailRows:
    """One order's detail as read for sections: the workflow's own rows (plain dicts) and what each
    section's load returned for the order, by section name."""

    order: ServiceOrder
    stages: list[dict]
    files: dict[int, list[dict]]  # submission files by stage id
    appointments: list[dict]
    events: list[dict]
    sections: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OrderSection:
    name: str
    load: Callable[[list[OrderDetailRows]], dict[int, Any]] | None
    serialize: Callable[[OrderDetailRows, Any], Any]
    schema: Callable[[], Any]
    seal: Callable[[Any], Any] | None = None
    unseal: Callable[[Any], Any] | None = None
    annotate: Callable[[], dict[str, Any]] | None = None


_order_sections: dict[str, OrderSection] = {}


def register_order_section(
    name: str,
    *,
    load: Callable[[list[OrderDetailRows]], dict[int, Any]] | None = None,
    serialize: Callable[[OrderDetailRows, Any], Any],
    schema: Callable[[], Any],
    seal: Callable[[Any], Any] | None = None,
    unseal: Callable[[Any], Any] | None = None,
    annotate: Callable[[], dict[str, Any]] | None = None,
) -> None:
    _order_sections[name] = OrderSection(name=name, load=load, serialize=serialize, schema=schema, seal=seal,
                                         unseal=unseal, annotate=annotate)


def order_sections() -> list[OrderSection]:
    return list(_order_sections.values())


def order_section_annotations() -> dict[str, Any]:
    """What the sections add to the order row's own query (their `annotate()`), merged."""
    merged: dict[str, Any] = {}
    for section in _order_sections.values():
        if section.annotate is not None:
            merged.update(section.annotate())
    return merged


def load_order_sections(details: list[OrderDetailRows]) -> None:
    """Run every section's load once for these orders and keep each result on its order's rows."""
    for section in _order_sections.values():
        if section.load is None:
            continue
        loaded = section.load(details)
        for detail in details:
            detail.sections[section.name] = loaded.get(detail.order.pk)


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


# --- what the engine's read of an order's stages reads along ----------------------------------------
# When an order moves to another stage the engine reads all its stages (engine.order_stages; with the order's lock
# for a step that may leave its stage: workflows.order_lock). An app whose effect of that step needs a row each
# stage has at most one of names it here: `relation()` makes a FilteredRelation on a unique key, joined to that read
# (unlocked: the order's lock guards it) and set as `stage.<name>` (None when the stage has none), which saves the
# effect a read. They hold for the step that read them only: the engine drops them when the same order instance
# takes its next step (another write in the transaction may have changed them).

_stage_rows: dict[str, Callable[[], Any]] = {}


def register_stage_row(name: str, relation: Callable[[], Any]) -> None:
    _stage_rows.setdefault(name, relation)


def stage_row_names() -> tuple[str, ...]:
    return tuple(_stage_rows)


def stage_rows() -> dict[str, Any]:
    """{name: a new FilteredRelation} (a queryset takes the one it is given as its own)."""
    return {name: relation() for name, relation in _stage_rows.items()}


# --- the order's page in the admin ---------------------------------------------------------------
# The store's staff read the whole order on one admin page (workflows.admin.order_page); the parts other apps
# own (payments and refunds, e-vouchers, check-ins and photos) are theirs to show, so the page never imports
# them. `load(details) -> {order id: data}` reads, in a fixed number of queries, what the part shows (kept
# in `detail.sections["admin:<name>"]`); `render(detail, request) -> str` returns the part's HTML (the app's
# own template, with its own action buttons pointing at its own admin views), reading loaded data only.


@dataclass(frozen=True)
class AdminSection:
    name: str
    title: Any  # a lazy translated string
    render: Callable[[OrderDetailRows, Any], str]
    load: Callable[[list[OrderDetailRows]], dict[int, Any]] | None = None
    position: int = 100


_admin_sections: dict[str, AdminSection] = {}


def register_admin_section(name: str, *, title, render: Callable[[OrderDetailRows, Any], str],
                           load: Callable[[list[OrderDetailRows]], dict[int, Any]] | None = None,
                           position: int = 100) -> None:
    _admin_sections[name] = AdminSection(name=name, title=title, render=render, load=load, position=position)


def admin_sections() -> list[AdminSection]:
    return sorted(_admin_sections.values(), key=lambda s: (s.position, s.name))


def load_admin_sections(details: list[OrderDetailRows]) -> None:
    for section in admin_sections():
        if section.load is None:
            continue
        loaded = section.load(details)
        for detail in details:
            detail.sections[f"admin:{section.name}"] = loaded.get(detail.order.pk)


# Lists apps add to the store's day in the admin (workflows.selectors.store_day): `load(user, store, now)` returns
# [(order, note)], the orders of that store within the user's scope waiting on the store for the app's reason
# (portal: low ratings), each with a short note in words. One query each.
@dataclass(frozen=True)
class DayList:
    key: str
    heading: Any  # a lazy translated string
    load: Callable[..., list[tuple[Any, str]]]
    position: int = 100


_day_lists: dict[str, DayList] = {}


def register_day_list(key: str, *, heading, load: Callable[..., list[tuple[Any, str]]], position: int = 100) -> None:
    _day_lists[key] = DayList(key=key, heading=heading, load=load, position=position)


def day_lists() -> list[DayList]:
    return sorted(_day_lists.values(), key=lambda d: (d.position, d.key))


# Where a consumer's approval signature is kept (the fieldwork app registers it: an evidence file of kind
# "signature"). `fn(stage, actor, data: bytes, sha256: str) -> None`, run inside the approval's transaction.
_signature_store: list[Callable[..., None]] = []


def register_signature_store(fn: Callable[..., None]) -> None:
    _signature_store[:] = [fn]


def signature_store(stage: StageInstance, actor: Any, data: bytes, sha256: str) -> None:
    if not _signature_store:
        raise RuntimeError("no app keeps approval signatures (fieldwork not installed?)")
    _signature_store[0](stage, actor, data, sha256)
