"""The stage engine: orders move only along their template's machine, with guards, roles and events."""

import pytest

from core.errors import GuardFailed, InvalidTransition, PermissionDeniedError
from tests.factories.workflows import make_order, stage_of
from workflows import engine, hooks, services
from workflows.models import OrderEvent

DESIGN_FLOW = {
    "name": "Design only",
    "stages": [
        {"code": "brief", "name": "Brief"},
        {"code": "design", "name": "Design", "requires_approval": True, "max_rework_rounds": 2, "sla_hours": 24},
        {"code": "handover", "name": "Handover", "requires_approval": True, "max_rework_rounds": 0},
    ],
}


@pytest.fixture
def order(store, consumer, store_manager):
    return make_order(store=store, consumer=consumer, definition=DESIGN_FLOW, actor=store_manager)


def fire(order, trigger, actor, **kw):
    return engine.fire(order_id=order.pk, trigger=trigger, actor=actor, **kw)


def test_passive_first_stage_completes_by_itself_and_every_step_is_an_event(order):
    # the brief stage has nothing to do: the order starts at the design stage
    assert order.state == "design:ready"
    events = list(order.events.values_list("kind", "from_state", "to_state"))
    assert events == [
        ("order.created", "", "brief:ready"),
        ("stage.complete", "brief:ready", "design:ready"),
    ]
    assert stage_of(order, "brief").state == "done"
    assert stage_of(order, "design").state == "ready"


def test_submit_approve_runs_the_stages_in_order_to_completion(order, store_manager, consumer):
    services.stage_submit(stage=stage_of(order, "design"), actor=store_manager, notes="Draft 1")
    services.stage_approve(stage=stage_of(order, "design"), actor=consumer)
    order.refresh_from_db()
    assert order.state == "handover:ready"
    services.stage_submit(stage=stage_of(order, "handover"), actor=store_manager)
    services.stage_approve(stage=stage_of(order, "handover"), actor=consumer)
    order.refresh_from_db()
    assert order.state == "completed" and order.status == "completed" and order.completed_at
    assert [s.state for s in order.stages.order_by("position")] == ["done", "done", "done"]


def test_a_trigger_the_state_does_not_allow_is_refused_with_the_allowed_ones(order, consumer, store_manager):
    """`allowed` lists what the caller's role may do now: the consumer may only cancel at design:ready."""
    with pytest.raises(InvalidTransition) as exc:
        services.stage_approve(stage=stage_of(order, "design"), actor=consumer)
    assert exc.value.status_code == 409
    assert exc.value.extra["allowed"] == ["cancel"]
    with pytest.raises(InvalidTransition) as exc:
        services.stage_submit(stage=stage_of(order, "handover"), actor=store_manager)
    assert exc.value.extra["allowed"] == ["cancel", "complete", "start"]
    assert engine.allowed_triggers(order) == ["cancel", "complete", "start"]  # no actor: the machine's own list
    order.refresh_from_db()
    assert order.state == "design:ready"


@pytest.mark.usefixtures("english")
def test_a_later_stage_cannot_be_worked_before_the_current_one(order, store_manager):
    with pytest.raises(InvalidTransition, match="not the order's current stage"):
        services.stage_submit(stage=stage_of(order, "handover"), actor=store_manager)


def test_roles_may_only_fire_their_own_triggers(order, technician, store_manager, consumer):
    with pytest.raises(PermissionDeniedError):
        fire(order, "approve", store_manager)
    with pytest.raises(PermissionDeniedError):
        fire(order, "unblock", consumer)  # only the system unblocks (when paid)
    with pytest.raises(PermissionDeniedError):
        fire(order, "resume", technician)


def test_rejection_sends_back_to_rework_until_the_limit_then_escalates(order, store_manager, consumer):
    design = stage_of(order, "design")
    for expected_round in (1, 2):
        services.stage_submit(stage=design, actor=store_manager)
        services.stage_reject(stage=design, actor=consumer, reason="Too dark")
        design.refresh_from_db()
        assert design.state == "in_progress" and design.rework_rounds == expected_round
    services.stage_submit(stage=design, actor=store_manager)
    services.stage_reject(stage=design, actor=consumer, reason="Still too dark")
    design.refresh_from_db()
    assert design.state == "escalated"
    # the store takes it back into work
    services.stage_resume(stage=design, actor=store_manager, note="Call the consumer")
    design.refresh_from_db()
    assert design.state == "in_progress"
    reject_events = OrderEvent.objects.filter(order=order, kind="stage.reject").order_by("seq")
    assert [e.to_state for e in reject_events] == ["design:in_progress", "design:in_progress", "design:escalated"]
    assert reject_events.last().payload == {"reason": "Still too dark"}


@pytest.mark.usefixtures("english")
def test_a_rejection_needs_a_reason(order, store_manager, consumer):
    services.stage_submit(stage=stage_of(order, "design"), actor=store_manager)
    with pytest.raises(Exception, match="Say why"):
        services.stage_reject(stage=stage_of(order, "design"), actor=consumer, reason="  ")


def test_sla_clock_of_an_off_site_stage_starts_when_work_can_start(order, store_manager):
    design = stage_of(order, "design")  # `ready` since the passive brief completed (issue 21: not at `start`)
    assert design.state == "ready" and design.started_at is None
    assert (design.sla_due_at - design.entered_at).total_seconds() == 24 * 3600
    services.stage_start(stage=design, actor=store_manager)
    started = stage_of(order, "design")
    assert started.started_at is not None and started.sla_due_at == design.sla_due_at  # starting does not reset it


def test_cancelled_order_accepts_nothing_more(order, store_manager, consumer):
    services.order_cancel(order=order, actor=store_manager, reason="Consumer moved away")
    order.refresh_from_db()
    assert order.state == "cancelled" and order.status == "cancelled" and order.cancel_reason
    assert stage_of(order, "design").state == "cancelled"
    assert stage_of(order, "brief").state == "done"
    events_before = order.events.count()
    with pytest.raises(InvalidTransition) as exc:
        services.stage_submit(stage=stage_of(order, "design"), actor=store_manager)
    assert exc.value.extra["allowed"] == []
    assert order.events.count() == events_before


def test_a_guard_registered_by_another_app_blocks_with_its_reason(order, store_manager):
    def needs_paperwork(order_, stage):
        return "The paperwork is missing." if stage.definition.code == "design" else None

    hooks.register_guard("complete", needs_paperwork)
    try:
        with pytest.raises(GuardFailed) as exc:
            services.stage_submit(stage=stage_of(order, "design"), actor=store_manager)
        assert exc.value.extra["reasons"] == ["The paperwork is missing."]
        assert stage_of(order, "design").state == "ready"
    finally:
        hooks._guards["complete"].remove(needs_paperwork)


def test_effects_run_in_the_transition_transaction(order, store_manager):
    seen = []

    def effect(ctx):
        seen.append((ctx.trigger, ctx.from_state, ctx.to_state, ctx.event.kind))

    hooks.register_effect("start", effect)
    try:
        services.stage_start(stage=stage_of(order, "design"), actor=store_manager)
    finally:
        hooks.unregister_effect(effect)
    assert seen == [("start", "design:ready", "design:in_progress", "stage.start")]


def test_machine_has_no_shortcut_transitions(order):
    spec = engine.spec_for_version(order.template_version_id)
    model = engine._OrderModel(order, None, spec)
    engine._machine(model, order.template_version_id)
    assert not any(name.startswith("to_") for name in dir(model))


def test_each_step_builds_only_the_transitions_that_leave_the_current_state(merchant, store, consumer):
    """The machine fire() builds covers one step, so its cost does not grow with the stage count."""
    from tests.factories.workflows import linear_stages, make_order, make_template

    small = make_order(store=store, consumer=consumer, template=make_template(merchant=merchant, stores=[store],
                                                           definition=linear_stages(4, requires_approval=True)))
    large = make_order(store=store, consumer=consumer, template=make_template(merchant=merchant, stores=[store],
                                                           definition=linear_stages(40, requires_approval=True)))
    for order in (small, large):
        states, leaving = engine._step(order.template_version_id, order.state)
        assert {t["trigger"] for t in leaving} == set(engine.allowed_triggers(order))
        assert all(t["source"] == order.state for t in leaving)
        assert order.state in states and len(states) <= 4  # here, then start, complete or cancel
    assert len(engine._step(large.template_version_id, large.state)[0]) == len(
        engine._step(small.template_version_id, small.state)[0])


def test_a_transition_costs_the_same_queries_for_4_or_40_stages(merchant, store, consumer,
                                                                django_assert_max_num_queries):
    """complete -> awaiting approval notifies the consumer: the listeners reuse the engine's locked order,
    store, consumer and stage instead of reading them again, and nothing is read per stage."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories.workflows import linear_stages, make_order, make_template

    counts = []
    for n in (4, 40):
        template = make_template(merchant=merchant, stores=[store], definition=linear_stages(n, requires_approval=True))
        order = make_order(store=store, consumer=consumer, template=template)
        engine.fire(order_id=order.pk, trigger="start")
        with CaptureQueriesContext(connection) as ctx:
            result = engine.fire(order_id=order.pk, trigger="complete")
        assert result.to_state.endswith(":awaiting_approval")
        assert order.notifications.filter(kind="approval.requested").exists()
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts
    # lock (with store, consumer, its preferences and the current stage), order, stage, last event, event,
    # notifications
    # (+ BEGIN/COMMIT where the backend logs them)
    assert counts[0] <= 8, counts


def test_a_payload_with_nul_is_refused_before_anything_is_written(order, consumer):
    """PostgreSQL's jsonb cannot hold U+0000: the event log refuses it on every backend, and the whole
    transition rolls back (found by the stateful test on PostgreSQL)."""
    from core.errors import DomainError
    from workflows.models import OrderEvent

    state, events = order.state, OrderEvent.objects.filter(order=order).count()
    with pytest.raises(DomainError) as refused:
        engine.fire(order_id=order.pk, trigger="cancel", actor=consumer, payload={"reason": "changed\x00mind"})
    assert (refused.value.status_code, refused.value.code) == (400, "nul_character")
    order.refresh_from_db()
    assert order.state == state and OrderEvent.objects.filter(order=order).count() == events
    engine.fire(order_id=order.pk, trigger="cancel", actor=consumer, payload={"reason": "changed my mind"})
    order.refresh_from_db()
    assert order.state == "cancelled"
