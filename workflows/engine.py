"""The stage engine: each order's state machine, built at runtime from its template version.

States are "<stage code>:<sub-state>" plus "closing" (last installment outstanding),
"completed" and "cancelled". The machine is a `transitions.Machine` with
`auto_transitions=False`, so there is no `to_<state>()` shortcut around the guards.

`fire()` is the one function that changes an order's state: it locks the order row, builds the
machine for the step the order's state allows (the slice of its version's spec that leaves that
state; both are cached, as published versions never change), checks the role and the guards,
moves the order and its stage instances, appends one event, and runs the registered effects, all
in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from transitions import Machine, MachineError

from core.errors import GuardFailed, InvalidTransition, PermissionDeniedError
from tenancy import policy
from workflows import hooks
from workflows.events import ORDER_CREATED, STAGE_KINDS, record_event, written_together
from workflows.machine import (  # noqa: F401 - the machine's names, re-exported for the engine's callers
    CANCELLED,
    CLOSING,
    COMPLETED,
    FINAL_STATES,
    SYSTEM_TRIGGERS,
    MachineSpec,
    _source_matches,
    _step,
    allowed_triggers,
    build_spec,
    clear_caches,
    spec_for_version,
    split_state,
    state_name,
)
from workflows.models import OrderEvent, ServiceOrder, StageInstance
from workflows.order_lock import (  # noqa: F401 - lock_order, lock_order_with: the engine's callers lock with them
    loaded_current_stage,
    lock_order,
    lock_order_and_stages,
    lock_order_with,
)
from workflows.order_lock import stages_by_code as _stages_by_code
from workflows.store_values import order_store_values

S = StageInstance.State


class _OrderModel:
    """What the `transitions` machine drives: the order's state plus the guard callbacks."""

    def __init__(self, order: ServiceOrder, stage: StageInstance | None, spec: MachineSpec):
        self.state = order.state
        self.order = order
        self.stage = stage
        self.spec = spec
        self.failures: list[str] = []

    def _guard(self, trigger: str) -> bool:
        self.failures = hooks.guard_failures(trigger, self.order, self.stage)
        return not self.failures

    def guard_unblock(self) -> bool:
        return self._guard("unblock")

    def guard_book(self) -> bool:
        return self._guard("book")

    def guard_start(self) -> bool:
        return self._guard("start")

    def guard_complete(self) -> bool:
        return self._guard("complete")

    def guard_approve(self) -> bool:
        return self._guard("approve")

    def guard_settle(self) -> bool:
        return self._guard("settle")

    def rework_allowed(self) -> bool:
        return self.stage.rework_rounds < self.spec.definitions[self.stage.definition.code].max_rework_rounds


def _machine(model: _OrderModel, version_id: int) -> Machine:
    states, leaving = _step(version_id, model.state)
    return Machine(
        model=model,
        states=list(states),
        transitions=[dict(t) for t in leaving],
        initial=model.state,
        auto_transitions=False,
        ignore_invalid_triggers=False,
    )


def _check_role(trigger: str, actor) -> None:
    if not policy.may(actor, trigger):
        raise PermissionDeniedError(_("Your role may not '%(trigger)s' a stage.") % {"trigger": trigger})


# A step with these triggers may move the order to another stage, which reads all its stages: they come with the
# lock (one statement fewer). Any other trigger that does reads them when it needs them (engine.order_stages).
_MAY_LEAVE_STAGE = frozenset({"complete", "approve", "cancel"})


@dataclass
class FireResult:
    order: ServiceOrder
    stage: StageInstance | None
    event: OrderEvent
    from_state: str
    to_state: str


def fire(
    *,
    order_id: int,
    trigger: str,
    actor=None,
    stage_id: int | None = None,
    payload: dict | None = None,
) -> FireResult:
    """Apply one trigger to an order. Raises InvalidTransition (409), GuardFailed (409),
    PermissionDeniedError (403) or NotFound (404); on success the change and its event are committed."""
    with transaction.atomic():
        order = lock_order_and_stages(order_id) if trigger in _MAY_LEAVE_STAGE else lock_order(order_id)
        result = _fire_locked(order, trigger, actor=actor, stage_id=stage_id, payload=payload or {})
        _auto_advance(order)
        return result


def fire_locked(
    order: ServiceOrder,
    *,
    trigger: str,
    actor=None,
    stage_id: int | None = None,
    payload: dict | None = None,
) -> FireResult:
    """fire() for a caller that already holds the order's row lock inside its own transaction
    (booking locks the order, then the technicians, then fires)."""
    result = _fire_locked(order, trigger, actor=actor, stage_id=stage_id, payload=payload or {})
    _auto_advance(order)
    return result


def try_advance(order: ServiceOrder) -> None:
    """Let the system take whatever step has become possible (a payment arrived, say).

    The caller holds the order's row lock (payments lock the order before its installments)."""
    _auto_advance(order)


def order_stages(order: ServiceOrder) -> list[StageInstance]:
    """The locked order's stages in position order, with their definitions: the engine's own instances (read once
    per locked order instance), so an effect that needs them reads nothing more."""
    return list(_stages_by_code(order).values())


def _stage(order: ServiceOrder, code: str) -> StageInstance | None:
    """The order's stage `code` (None for closing/completed/cancelled). The current stage comes with the
    order's lock, so a step within one stage reads no stage rows; moving to another stage reads them all."""
    stages = getattr(order, "_engine_stages", None)
    if stages is not None:
        return stages.get(code)
    current = loaded_current_stage(order)
    if current is not None and current.definition.code == code:
        return current
    if code not in spec_for_version(order.template_version_id).definitions:
        return None
    return _stages_by_code(order).get(code)


def _fire_locked(order: ServiceOrder, trigger: str, *, actor, stage_id, payload) -> FireResult:
    _check_role(trigger, actor)
    if not order.__dict__.pop("_stage_rows_fresh", False):  # read by the lock for this step (order_lock), else
        for stage in getattr(order, "_engine_stages", {}).values():  # other apps' rows hold for the step that read them
            for name in hooks.stage_row_names():
                stage.__dict__.pop(name, None)
    if order.state in FINAL_STATES:
        raise InvalidTransition(_("The order is %(state)s and accepts nothing more.") % {"state": order.state},
                                allowed=[])
    spec = spec_for_version(order.template_version_id)
    code, _sub = split_state(order.state)
    stage = _stage(order, code)
    if stage_id is not None and (stage is None or stage.pk != stage_id):
        raise InvalidTransition(_("This stage is not the order's current stage."),
                                allowed=allowed_triggers(order, actor=actor))
    model = _OrderModel(order, stage, spec)
    machine = _machine(model, order.template_version_id)
    from_state = order.state
    try:
        moved = getattr(model, trigger)()
    except (MachineError, AttributeError):
        raise InvalidTransition(
            f"'{trigger}' is not possible while the order is at '{from_state}'.",
            allowed=allowed_triggers(order, actor=actor),
        ) from None
    if not moved:
        raise GuardFailed(
            " ".join(model.failures) or f"'{trigger}' is not possible yet.",
            reasons=model.failures,
            allowed=allowed_triggers(order, actor=actor),
        )
    del machine
    to_state = model.state
    entered = _apply_state(order, from_state, to_state, trigger)
    # The step's event is written in one INSERT with the first event its effects record (the installments it makes
    # due), else at the block's end: the effects get it without an id (none of them needs one), the caller with one.
    with written_together():
        event = record_event(order=order, kind=STAGE_KINDS[trigger], actor=actor, stage=stage, trigger=trigger,
                             from_state=from_state, to_state=to_state, payload=payload, hold=True)
        hooks.run_effects(hooks.TransitionContext(
            order=order, trigger=trigger, from_state=from_state, to_state=to_state, actor=actor, stage=stage,
            entered_stage=entered, event=event, payload=payload))
    return FireResult(order=order, stage=stage, event=event, from_state=from_state, to_state=to_state)


def _apply_state(order: ServiceOrder, from_state: str, to_state: str, trigger: str) -> StageInstance | None:
    """Mirror the machine's new state onto the order and its stage instances."""
    now = timezone.now()
    from_code, _sub = split_state(from_state)
    to_code, to_sub = split_state(to_state)
    current = _stage(order, from_code)
    entered = None
    dirty: dict[int, StageInstance] = {}
    # Each stage's columns before this step: only those that change are written (a bulk_update compiles a CASE
    # per column and row, the largest Python cost of a step that moves to the next stage).
    before = {current.pk: _stage_values(current)} if current is not None else {}
    if to_state == CANCELLED:
        for st in _stages_by_code(order).values():
            before.setdefault(st.pk, _stage_values(st))
            if st.state not in (S.DONE, S.CANCELLED):
                st.state = S.CANCELLED
                dirty[st.pk] = st
        order.status, order.cancelled_at = ServiceOrder.Status.CANCELLED, now
    elif to_code != from_code:
        if current is not None:
            current.state, current.completed_at = S.DONE, now
            dirty[current.pk] = current
        if to_state in (CLOSING, COMPLETED):
            if to_state == COMPLETED:
                order.status, order.completed_at = ServiceOrder.Status.COMPLETED, now
        else:
            entered = _stage(order, to_code)
            before.setdefault(entered.pk, _stage_values(entered))
            entered.state, entered.entered_at = to_sub, now
            order.current_stage = entered
            dirty[entered.pk] = entered
    else:
        current.state = to_sub
        dirty[current.pk] = current
    touched = entered or current
    if current is not None and current is not touched:
        sla_clock(current, current.state, now)  # left (done or cancelled): a pause ends
    if touched is not None:  # an open price revision (order.sla_held_since) keeps the clock stopped
        sla_clock(touched, to_sub, now, held=order.sla_held_since is not None)
        dirty[touched.pk] = touched
    if touched is not None and to_sub == S.IN_PROGRESS:
        if touched.started_at is None:
            touched.started_at = now
        dirty[touched.pk] = touched
    if touched is not None and trigger == "reject" and to_sub in (S.IN_PROGRESS, S.READY):
        touched.rework_rounds += 1  # a rework round: back to work, or (on-site work) to book the revisit
        dirty[touched.pk] = touched
    if touched is not None and to_sub == S.AWAITING_APPROVAL:
        touched.submitted_at = now
    order.state = to_state
    order.save(update_fields=["state", "status", "current_stage", "completed_at", "cancelled_at"])
    changed = [field for i, field in enumerate(_STAGE_FIELDS)
               if any(getattr(st, field) != before[pk][i] for pk, st in dirty.items())]
    if len(dirty) == 1:
        next(iter(dirty.values())).save(update_fields=changed)
    elif changed:  # one statement for the stage left and the stage entered (or every stage a cancellation ends)
        StageInstance.objects.bulk_update(list(dirty.values()), changed)
    return entered


_STAGE_FIELDS = ("state", "entered_at", "started_at", "submitted_at", "completed_at", "sla_due_at", "sla_paused_at",
                 "waiting_seconds", "rework_rounds")


def _stage_values(stage: StageInstance) -> tuple:
    return tuple(getattr(stage, field) for field in _STAGE_FIELDS)


# Where the order waits on the consumer: the stage's SLA clock stands still.
CONSUMER_WAITS = (S.WAITING_PAYMENT, S.AWAITING_APPROVAL)
# The sub-states an outside hold (order.sla_held_since: a price revision's answer) stops the clock in.
HOLDABLE = (S.WAITING_PAYMENT, S.READY, S.SCHEDULED, S.IN_PROGRESS, S.AWAITING_APPROVAL, S.ESCALATED)


def sla_clock(stage: StageInstance, sub: str, now, *, held: bool = False) -> None:
    """Keep the stage's SLA clock for its new sub-state (the caller saves the stage).

    The clock starts when work on the stage can start: an off-site stage on entering `ready` (or `in_progress`),
    an on-site one when the visit starts (`in_progress`). It stops while the order waits on the consumer
    (CONSUMER_WAITS, or `held`: an open price revision, workflows.services.sla_hold); when it resumes, the due
    time moves by the pause and the pause counts as waiting time. One pause however many reasons overlap."""
    waiting = sub in CONSUMER_WAITS or (held and sub in HOLDABLE)
    if stage.sla_paused_at is not None and not waiting:
        paused = max(now - stage.sla_paused_at, timedelta(0))
        stage.waiting_seconds += int(paused.total_seconds())
        if stage.sla_due_at is not None:
            stage.sla_due_at += paused
        stage.sla_paused_at = None
    elif waiting and stage.sla_paused_at is None:
        stage.sla_paused_at = now
    starts = (S.IN_PROGRESS,) if stage.definition.requires_appointment else (S.READY, S.IN_PROGRESS)
    if stage.definition.sla_hours and stage.sla_due_at is None and sub in starts:
        # The store's SLA where its brand lets it tighten the template's (workflows.store_values). Starting while
        # held (a price revision open), it counts from the pause's start: resuming moves it on by the whole pause.
        stage.sla_due_at = (stage.sla_paused_at or now) + timedelta(
            hours=order_store_values(stage.order).sla_hours_of(stage.definition))


def _auto_advance(order: ServiceOrder) -> None:
    """System steps that need no person: unblock a paid stage, complete a passive one, settle."""
    for _attempt in range(len(spec_for_version(order.template_version_id).definitions) * 3 + 3):
        if order.state in FINAL_STATES:
            return
        code, sub = split_state(order.state)
        if order.state == CLOSING:
            trigger = "settle"
        elif sub == S.WAITING_PAYMENT:
            trigger = "unblock"
        elif sub == S.READY and spec_for_version(order.template_version_id).definitions[code].is_passive:
            trigger = "complete"
        else:
            return
        try:
            _fire_locked(order, trigger, actor=None, stage_id=None, payload={})
        except GuardFailed:
            return


def order_initialize(order: ServiceOrder) -> None:
    """Put a freshly created order into its first state (called by workflows.services.order_create)."""
    spec = spec_for_version(order.template_version_id)
    stages = _stages_by_code(order)
    order.state = spec.initial
    code, sub = split_state(spec.initial)
    first = stages[code]
    first.state, first.entered_at = sub, timezone.now()
    sla_clock(first, sub, first.entered_at)
    first.save(update_fields=["state", "entered_at", "sla_due_at", "sla_paused_at", "waiting_seconds"])
    order.current_stage = first
    order.save(update_fields=["state", "current_stage"])
    event = record_event(
        order=order,
        kind=ORDER_CREATED,
        actor=order.created_by,
        stage=first,
        to_state=spec.initial,
        payload={"total_amount": str(order.total_amount), "currency": order.currency},
    )
    hooks.run_effects(
        hooks.TransitionContext(
            order=order,
            trigger="create",
            from_state="",
            to_state=spec.initial,
            actor=order.created_by,
            stage=None,
            entered_stage=first,
            event=event,
        )
    )
    _auto_advance(order)
