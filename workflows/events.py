"""The order event log: declared kinds, one recorder, hash-chained per order.

Every kind of event is declared once (`declare`: its name, a one-line meaning and the keys its payload
may carry), by the app that records it, in that app's `events.py`, next to the small named constructors
its services call. Recording an undeclared kind, or a payload key the kind does not declare, raises
when settings.EVENT_KINDS_STRICT is on (the tests) and is logged otherwise (a running service never
loses a state change over a missing declaration).

Each event's hash covers its content and the previous event's hash, so editing or removing a
row breaks the chain from there on (`manage.py verify_event_chain` finds the first break).
Callers hold the order row lock (the engine and every service lock it first), which is what
makes `seq` and the chain gap-free.
"""

import functools
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
from tenancy.models import User
from workflows import hooks
from workflows.models import OrderEvent, ServiceOrder, StageInstance

logger = logging.getLogger(__name__)


# --- declared kinds -----------------------------------------------------------------------------


@dataclass(frozen=True)
class EventKind:
    name: str
    meaning: str
    payload: tuple[str, ...] = ()  # the keys its payload may carry

    def __str__(self) -> str:
        return self.name


class UndeclaredEventKind(Exception):
    """A programming error: an event kind (or payload key) nobody declared (raised when EVENT_KINDS_STRICT)."""


_declared: dict[str, EventKind] = {}


def declare(name: str, meaning: str, payload: Iterable[str] = ()) -> EventKind:
    """Declare an event kind (once; declaring it again with other words is an error)."""
    kind = EventKind(name=name, meaning=meaning, payload=tuple(payload))
    existing = _declared.setdefault(name, kind)
    if existing != kind:
        raise ValueError(f"event kind {name!r} is declared twice, differently")
    return kind


def declared_kinds() -> dict[str, EventKind]:
    return dict(_declared)


def _check_declared(kind: str, payload: dict | None) -> None:
    declared = _declared.get(kind)
    if declared is None:
        problem = f"event kind {kind!r} is not declared"
    else:
        extra = sorted(set(payload or ()) - set(declared.payload))
        problem = f"event kind {kind!r} does not declare payload keys {extra}" if extra else ""
    if not problem:
        return
    if getattr(settings, "EVENT_KINDS_STRICT", False):
        raise UndeclaredEventKind(problem)
    logger.warning("%s", problem)


# The engine's own kinds: one per trigger (`stage.<trigger>`), and the order's creation.
ORDER_CREATED = declare("order.created", "The order was created and put in its first state.",
                        ("total_amount", "currency"))
STAGE_KINDS = {
    "unblock": declare("stage.unblock", "The stage's installment was paid: the stage is open."),
    "settle": declare("stage.settle", "The final installment was paid: the order is complete."),
    "book": declare("stage.book", "An on-site visit was booked (its window, the technician given it).",
                      ("window_start", "window_end", "technician")),
    "reschedule": declare("stage.reschedule", "An on-site visit was moved, or a missed one rebooked.",
                          ("from", "to", "window_end", "technician", "previous", "appointment", "missed")),
    "start": declare("stage.start", "Work on the stage began (a technician's check-in, or staff).",
                     ("appointment", "checkin")),
    "complete": declare("stage.complete", "The stage's work was delivered (done, or waiting for approval).",
                        ("notes", "files", "appointment", "client_event_id", "recorded_at", "received_at",
                         "late_sync")),
    "approve": declare("stage.approve", "The consumer accepted the stage's work.", ("signature_sha256",)),
    "reject": declare("stage.reject", "The consumer rejected the stage's work, with a reason.", ("reason",)),
    "resume": declare("stage.resume", "Staff resumed an escalated stage.", ("note",)),
    "cancel": declare("stage.cancel", "The order was cancelled (with the active visits it called off).",
                      ("reason", "visits")),
}
APPOINTMENT_ASSIGNED = declare("appointment.assigned", "Staff gave a visit to a technician.",
                               ("appointment", "technician", "previous", "window_start", "window_end"))
# Named for the technician's job (its name predates this declaration; webhook subscribers filter on it).
APPOINTMENT_NO_SHOW = declare("job.no_show", "Nobody checked in to a booked visit: marked a no-show.",
                              ("appointment", "technician", "window_start", "window_end"))


# --- recording ----------------------------------------------------------------------------------


def _event_hash(
    *,
    prev_hash: str,
    order_id: int,
    seq: int,
    kind: str,
    stage_id,
    trigger: str,
    from_state: str,
    to_state: str,
    actor_id,
    actor_role: str,
    created_at,
    payload: dict,
) -> str:
    body = json.dumps(
        [
            order_id,
            seq,
            kind,
            stage_id,
            trigger,
            from_state,
            to_state,
            actor_id,
            actor_role,
            created_at.isoformat(),
            payload,
        ],
        cls=DjangoJSONEncoder,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def event_hash(event: OrderEvent) -> str:
    return _event_hash(
        prev_hash=event.prev_hash,
        order_id=event.order_id,
        seq=event.seq,
        kind=event.kind,
        stage_id=event.stage_id,
        trigger=event.trigger,
        from_state=event.from_state,
        to_state=event.to_state,
        actor_id=event.actor_id,
        actor_role=event.actor_role,
        created_at=event.created_at,
        payload=event.payload,
    )


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


# The chain's tail (seq, hash) of orders this transaction has locked (the engine's lock reads the tail kept on the order
# row: workflows.chain_tail) or written an event for, so no event reads it: {order id: (seq, hash, mark)} on the
# connection. (Never a subquery beside the lock: on PostgreSQL a lock that waited for another transaction re-reads the
# locked row but evaluates a subquery in its old snapshot, so that tail could be stale.)
# The tail holds while its mark, a no-op on_commit callback registered with it, is still pending: Django drops a
# savepoint's callbacks when it rolls back (and all of them at the end of the transaction), so a tail written inside a
# rolled-back savepoint, or in an earlier transaction, is never used: the next event reads the tail from the table.


def _noop() -> None:
    pass


def _pending(mark) -> bool:
    return any(func is mark for _sids, func, _robust in connection.run_on_commit)


def remember_tail(order_id: int, seq: int, hash_: str) -> None:
    """The order's chain tail as of now, in a transaction holding the order's row lock (the engine's lock; record_event,
    after each event)."""
    if not connection.in_atomic_block:
        return
    tails = connection.__dict__.setdefault("_order_event_tails", {})
    if len(tails) > 64:  # a long-lived connection: forget what earlier transactions left
        for stale in [k for k, (_s, _h, mark) in tails.items() if not _pending(mark)]:
            del tails[stale]
    mark = functools.partial(_noop)  # a new object each time: its own place in run_on_commit
    transaction.on_commit(mark)
    tails[order_id] = (seq, hash_, mark)


def forget_tails() -> None:
    """Forget the remembered tails, as the end of a transaction does. For tests, where a whole test is one
    transaction: a step measured as its own request's transaction starts with none."""
    connection.__dict__.pop("_order_event_tails", None)


def _tail(order_id: int) -> tuple[int, str]:
    """(seq, hash) of the order's last event, (0, "") before the first: remembered in this transaction, else read."""
    tails = connection.__dict__.get("_order_event_tails")
    entry = tails.get(order_id) if tails else None
    if entry is not None and connection.in_atomic_block and _pending(entry[2]):
        return entry[0], entry[1]
    last = OrderEvent.objects.filter(order_id=order_id).order_by("-seq").values("seq", "hash").first()
    return (last["seq"], last["hash"]) if last else (0, "")


# Events kept back to be written with the order's next one (`written_together`): {order id: [events]} on the connection.
_HELD = "_order_events_held"


@contextmanager
def written_together() -> Iterator[None]:
    """Inside, an event recorded with `hold=True` is kept back and written in one INSERT with the order's next event
    (a check-in's `job.checked_in` with the `stage.start` it causes; the engine's step with the first event of its
    effects); its listeners run then, before that event's. What is still kept back at the end of the block is written
    then; on an exception, nothing kept back is written (the caller's transaction rolls back). A block inside another
    joins it: what it keeps back waits for the outer block's next event, or its end."""
    outer = connection.__dict__.get(_HELD)
    if outer is not None:
        yield
        return
    connection.__dict__[_HELD] = held = {}
    try:
        yield
        for order_id in list(held):
            _write(held.pop(order_id))
    finally:
        connection.__dict__[_HELD] = outer


def _write(events: list[OrderEvent]) -> None:
    if len(events) == 1:
        events[0].save(force_insert=True)
    else:
        OrderEvent.objects.bulk_create(events)  # the ids come back (RETURNING): listeners link rows to them
    for event in events:
        hooks.notify_event_listeners(event)


def record_event(
    *,
    order: ServiceOrder,
    kind: EventKind | str,
    actor=None,
    stage: StageInstance | None = None,
    stage_id: int | None = None,
    trigger: str = "",
    from_state: str = "",
    to_state: str = "",
    payload: dict[str, Any] | None = None,
    hold: bool = False,
) -> OrderEvent:
    """Append one event to the order's log. The caller must hold the order's row lock.
    `stage` or `stage_id` names the stage it is about (an id is enough: no stage row is read).
    `hold`: inside `written_together`, written with the order's next event (the returned event has no id yet)."""
    kind = str(kind)
    _check_declared(kind, payload)
    last_seq, prev_hash = _tail(order.pk)
    seq = last_seq + 1
    if _has_nul(payload):
        # PostgreSQL's jsonb cannot hold U+0000; refuse it here for every caller (and on SQLite too, so
        # both behave alike) instead of failing at the INSERT. The caller's transaction rolls back whole.
        raise DomainError(_("Text may not contain NUL (U+0000) characters."), code="nul_character")
    # Round-trip the payload through JSON so the hash covers exactly what is stored.
    clean_payload = json.loads(json.dumps(payload or {}, cls=DjangoJSONEncoder))
    created_at = timezone.now()
    actor_id = getattr(actor, "pk", None)
    actor_role = getattr(actor, "role", "") if actor_id else "system"
    event = OrderEvent(
        order=order,  # the caller's locked instance: listeners read it (and what it has loaded) from here
        seq=seq,
        kind=kind,
        trigger=trigger,
        from_state=from_state,
        to_state=to_state,
        actor_id=actor_id,
        actor_role=actor_role,
        created_at=created_at,
        payload=clean_payload,
        prev_hash=prev_hash,
    )
    if stage is not None:
        event.stage = stage
    else:
        event.stage_id = stage_id
    if actor_id is not None and isinstance(actor, User):
        OrderEvent._meta.get_field("actor").set_cached_value(event, actor)  # listeners read event.actor freely
    event.hash = event_hash(event)
    held = connection.__dict__.get(_HELD)
    waiting = held.pop(order.pk, []) if held is not None else []
    remember_tail(order.pk, seq, event.hash)
    if hold and held is not None:
        held[order.pk] = [*waiting, event]
    else:
        _write([*waiting, event])
    return event


def verify_chain(order_id: int) -> OrderEvent | None:
    """The first event whose hash or link does not match, or None when the chain is intact."""
    prev_hash = ""
    expected_seq = 1
    for event in OrderEvent.objects.filter(order_id=order_id).order_by("seq").iterator():
        if event.seq != expected_seq or event.prev_hash != prev_hash or event_hash(event) != event.hash:
            return event
        prev_hash = event.hash
        expected_seq += 1
    return None
