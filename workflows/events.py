"""The order event log: one small constructor, hash-chained per order.

Each event's hash covers its content and the previous event's hash, so editing or removing a
row breaks the chain from there on (`manage.py verify_event_chain` finds the first break).
Callers hold the order row lock (the engine and every service lock it first), which is what
makes `seq` and the chain gap-free.
"""

import hashlib
import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from core.errors import DomainError
from tenancy.models import User
from workflows import hooks
from workflows.models import OrderEvent, ServiceOrder, StageInstance


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


def record_event(
    *,
    order: ServiceOrder,
    kind: str,
    actor=None,
    stage: StageInstance | None = None,
    trigger: str = "",
    from_state: str = "",
    to_state: str = "",
    payload: dict[str, Any] | None = None,
) -> OrderEvent:
    """Append one event to the order's log. The caller must hold the order's row lock."""
    last = OrderEvent.objects.filter(order_id=order.pk).order_by("-seq").values("seq", "hash").first()
    seq = last["seq"] + 1 if last else 1
    prev_hash = last["hash"] if last else ""
    if _has_nul(payload):
        # PostgreSQL's jsonb cannot hold U+0000; refuse it here for every caller (and on SQLite too, so
        # both behave alike) instead of failing at the INSERT. The caller's transaction rolls back whole.
        raise DomainError("Text may not contain NUL (U+0000) characters.", code="nul_character")
    # Round-trip the payload through JSON so the hash covers exactly what is stored.
    clean_payload = json.loads(json.dumps(payload or {}, cls=DjangoJSONEncoder))
    created_at = timezone.now()
    actor_id = getattr(actor, "pk", None)
    actor_role = getattr(actor, "role", "") if actor_id else "system"
    event = OrderEvent(
        order=order,  # the caller's locked instance: listeners read it (and what it has loaded) from here
        seq=seq,
        stage=stage,
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
    if actor_id is not None and isinstance(actor, User):
        OrderEvent._meta.get_field("actor").set_cached_value(event, actor)  # listeners read event.actor freely
    event.hash = event_hash(event)
    event.save(force_insert=True)
    hooks.notify_event_listeners(event)
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
