"""The SLA monitor finds each kind of breach once, records it as a breach and an "sla.<kind>" event,
and records nothing new when it runs again."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from insights import tasks
from insights.models import SlaBreach
from insights.sla import sla_scan
from payments.models import Installment
from tests.factories.workflows import make_order, stage_of
from workflows import services as wf_services
from workflows.models import Appointment, OrderEvent, StageDefinition, StageInstance

Kind = SlaBreach.Kind
S = StageInstance.State


@pytest.fixture
def order(store, consumer, merchant):
    merchant.tier = "enterprise"
    merchant.save()
    return make_order(store=store, consumer=consumer)


def _set_stage(order, code, **fields):
    StageInstance.objects.filter(order=order, definition__code=code).update(**fields)
    return stage_of(order, code)


def _events(order, kind):
    return list(OrderEvent.objects.filter(order=order, kind=kind))


def _appointment(order, code, technician, *, window_end):
    stage = stage_of(order, code)
    return Appointment.objects.create(order=order, stage=stage, store=order.store, technician=technician,
                                      window_start=window_end - timedelta(hours=2), window_end=window_end)


def test_stage_past_its_sla_is_recorded_once(order):
    now = timezone.now()
    stage = _set_stage(order, "measuring", state=S.IN_PROGRESS, started_at=now - timedelta(hours=80),
                       sla_due_at=now - timedelta(hours=8))
    _set_stage(order, "design", state=S.IN_PROGRESS, sla_due_at=now + timedelta(hours=1))  # not yet due

    assert sla_scan(now=now)[Kind.STAGE_OVERDUE] == 1

    breach = SlaBreach.objects.get()
    assert (breach.kind, breach.stage_id, breach.order_id, breach.store_id) == (
        Kind.STAGE_OVERDUE, stage.pk, order.pk, order.store_id)
    assert breach.due_at == stage.sla_due_at
    [event] = _events(order, "sla.stage_overdue")
    assert breach.event_id == event.pk and event.stage_id == stage.pk
    assert event.payload["breach_id"] == breach.pk and event.payload["store_id"] == order.store_id

    assert sla_scan(now=now + timedelta(minutes=5)) == {k: 0 for k in Kind.values}
    assert SlaBreach.objects.count() == 1 and len(_events(order, "sla.stage_overdue")) == 1


def test_done_stage_and_cancelled_order_are_not_breaches(order, store, consumer, store_manager):
    now = timezone.now()
    _set_stage(order, "measuring", state=S.DONE, sla_due_at=now - timedelta(hours=8))
    other = make_order(store=store, consumer=consumer)
    wf_services.order_cancel(order=other, actor=store_manager, reason="changed plans")
    StageInstance.objects.filter(order=other).update(sla_due_at=now - timedelta(hours=8))
    assert sla_scan(now=now)[Kind.STAGE_OVERDUE] == 0
    assert not SlaBreach.objects.exists()


def test_no_show_after_window_end_plus_tolerance(order, technician):
    now = timezone.now()
    late = _appointment(order, "measuring", technician, window_end=now - timedelta(minutes=16))
    within = _appointment(order, "installation", technician, window_end=now - timedelta(minutes=14))

    counts = sla_scan(now=now)

    assert counts[Kind.NO_SHOW] == 1
    breach = SlaBreach.objects.get(kind=Kind.NO_SHOW)
    assert breach.appointment_id == late.pk
    assert breach.due_at == late.window_end + timedelta(minutes=15)  # the stage's arrival tolerance
    late.refresh_from_db()
    within.refresh_from_db()
    assert late.state == Appointment.State.NO_SHOW  # the visit was marked a no-show
    assert within.state == Appointment.State.BOOKED
    assert len(_events(order, "job.no_show")) == 1 and len(_events(order, "sla.no_show")) == 1

    assert sla_scan(now=now)[Kind.NO_SHOW] == 0
    assert SlaBreach.objects.filter(kind=Kind.NO_SHOW).count() == 1
    # Once its tolerance is over, the second visit is a no-show too (each recorded once).
    assert sla_scan(now=now + timedelta(minutes=2))[Kind.NO_SHOW] == 1


def test_checked_in_visit_is_not_a_no_show(order, technician):
    now = timezone.now()
    appt = _appointment(order, "measuring", technician, window_end=now - timedelta(hours=1))
    appt.mark_checked_in(at=now - timedelta(hours=2))
    appt.save()
    assert sla_scan(now=now)[Kind.NO_SHOW] == 0


def test_approval_waiting_too_long(order, settings):
    settings.INSIGHTS_APPROVAL_WAIT_HOURS = 72
    now = timezone.now()
    stage = _set_stage(order, "design", state=S.AWAITING_APPROVAL, submitted_at=now - timedelta(hours=73))
    _set_stage(order, "acceptance", state=S.AWAITING_APPROVAL, submitted_at=now - timedelta(hours=71))

    assert sla_scan(now=now)[Kind.APPROVAL_OVERDUE] == 1
    breach = SlaBreach.objects.get(kind=Kind.APPROVAL_OVERDUE)
    assert breach.stage_id == stage.pk
    assert breach.due_at == stage.submitted_at + timedelta(hours=72)
    assert len(_events(order, "sla.approval_overdue")) == 1
    assert sla_scan(now=now)[Kind.APPROVAL_OVERDUE] == 0


def test_installment_unpaid_too_long(order, settings):
    settings.INSIGHTS_INSTALLMENT_OVERDUE_HOURS = 48
    now = timezone.now()
    booking = Installment.objects.get(order=order, stage__definition__code="booking")
    assert booking.state == Installment.State.DUE
    Installment.objects.filter(pk=booking.pk).update(due_at=now - timedelta(hours=49))

    assert sla_scan(now=now)[Kind.INSTALLMENT_OVERDUE] == 1
    breach = SlaBreach.objects.get(kind=Kind.INSTALLMENT_OVERDUE)
    assert (breach.installment_id, breach.stage_id) == (booking.pk, booking.stage_id)
    [event] = _events(order, "sla.installment_overdue")
    assert event.payload["amount"] == "1200.00"
    assert sla_scan(now=now)[Kind.INSTALLMENT_OVERDUE] == 0


def test_recent_due_installment_is_not_a_breach(order):
    assert sla_scan()[Kind.INSTALLMENT_OVERDUE] == 0


def test_every_kind_at_once_then_nothing_new(order, technician, settings):
    now = timezone.now()
    _set_stage(order, "measuring", state=S.IN_PROGRESS, sla_due_at=now - timedelta(hours=1))
    _set_stage(order, "design", state=S.AWAITING_APPROVAL, submitted_at=now - timedelta(days=10))
    _appointment(order, "installation", technician, window_end=now - timedelta(hours=3))
    Installment.objects.filter(order=order, state="due").update(due_at=now - timedelta(days=10))

    first = tasks.scan_sla_breaches.delay().get()
    assert first == {"stage_overdue": 1, "no_show": 1, "approval_overdue": 1, "installment_overdue": 1}
    events_after_first = OrderEvent.objects.filter(order=order).count()

    assert tasks.scan_sla_breaches.delay().get() == {k: 0 for k in Kind.values}
    assert SlaBreach.objects.count() == 4
    assert OrderEvent.objects.filter(order=order).count() == events_after_first
    assert sorted(OrderEvent.objects.filter(order=order, kind__startswith="sla.").values_list("kind", flat=True)) == [
        "sla.approval_overdue", "sla.installment_overdue", "sla.no_show", "sla.stage_overdue"]


def test_scan_walks_in_batches(store, consumer, order):
    now = timezone.now()
    orders = [order] + [make_order(store=store, consumer=consumer) for _ in range(4)]
    for o in orders:
        _set_stage(o, "measuring", state=S.IN_PROGRESS, sla_due_at=now - timedelta(hours=1))
    assert sla_scan(now=now, batch_size=2)[Kind.STAGE_OVERDUE] == 5
    assert sla_scan(now=now, batch_size=2)[Kind.STAGE_OVERDUE] == 0


def test_scan_walks_by_due_time_across_ties_and_against_id_order(store, consumer, order):
    """The stage scan pages in (sla_due_at, id) order (its partial index): due times falling as ids rise, with ties
    across a page's end, are each recorded once."""
    now = timezone.now()
    orders = [order] + [make_order(store=store, consumer=consumer) for _ in range(6)]
    for i, o in enumerate(orders):
        _set_stage(o, "measuring", state=S.IN_PROGRESS, sla_due_at=now - timedelta(hours=1 + i // 3))
    assert sla_scan(now=now, batch_size=2)[Kind.STAGE_OVERDUE] == 7
    assert SlaBreach.objects.filter(kind=Kind.STAGE_OVERDUE).count() == 7
    assert sla_scan(now=now, batch_size=2)[Kind.STAGE_OVERDUE] == 0


def _scan_statements(n: int) -> int:
    """`n` statements of the scans, plus, on PostgreSQL, the three that plan them for short reads and put the
    planner back (core.planning)."""
    return n + (3 if connection.vendor == "postgresql" else 0)


def test_candidate_query_count_does_not_grow_with_history(store, consumer, order, django_assert_max_num_queries):
    """With nothing to record, a scan is a handful of queries whatever the number of past breaches."""
    now = timezone.now()
    for o in [order] + [make_order(store=store, consumer=consumer) for _ in range(5)]:
        _set_stage(o, "measuring", state=S.IN_PROGRESS, sla_due_at=now - timedelta(hours=1))
    sla_scan(now=now)
    with django_assert_max_num_queries(_scan_statements(5)):  # four kinds and the visit stages' tolerances
        sla_scan(now=now)


def test_visits_within_their_tolerance_are_not_read(store, consumer, order, technician,
                                                    django_assert_max_num_queries):
    """Booked visits whose window has ended but whose arrival tolerance has not are work in flight: the scan leaves
    them in the database (at 10^6 orders, 118 of them read and built on every scan were two thirds of its time)."""
    now = timezone.now()
    costs = []
    for extra in (2, 7):
        for _ in range(extra):
            _appointment(make_order(store=store, consumer=consumer), "measuring", technician,
                         window_end=now - timedelta(minutes=5))
        with django_assert_max_num_queries(_scan_statements(5)) as ctx:
            assert sla_scan(now=now, batch_size=5)[Kind.NO_SHOW] == 0
        costs.append(len(ctx.captured_queries))
    assert costs[0] == costs[1]


def test_each_visit_waits_for_its_own_stages_tolerance(order, technician):
    """Stages with different arrival tolerances: a visit is a no-show once its own stage's tolerance is over."""
    now = timezone.now()
    StageDefinition.objects.filter(pk=stage_of(order, "installation").definition_id).update(
        arrival_tolerance_minutes=45)
    short = _appointment(order, "measuring", technician, window_end=now - timedelta(minutes=20))  # 15 min
    long = _appointment(order, "installation", technician, window_end=now - timedelta(minutes=30))  # 45 min

    assert sla_scan(now=now)[Kind.NO_SHOW] == 1
    assert SlaBreach.objects.get(kind=Kind.NO_SHOW).appointment_id == short.pk

    assert sla_scan(now=now + timedelta(minutes=14))[Kind.NO_SHOW] == 0
    assert sla_scan(now=now + timedelta(minutes=16))[Kind.NO_SHOW] == 1
    breach = SlaBreach.objects.get(kind=Kind.NO_SHOW, appointment=long)
    assert breach.due_at == long.window_end + timedelta(minutes=45)


def test_a_visit_left_booked_on_a_completed_order_is_no_no_show(order, technician):
    now = timezone.now()
    appt = _appointment(order, "measuring", technician, window_end=now - timedelta(hours=3))
    order.status, order.completed_at = order.Status.COMPLETED, now - timedelta(hours=1)
    order.save(update_fields=["status", "completed_at"])
    assert sla_scan(now=now)[Kind.NO_SHOW] == 0
    appt.refresh_from_db()
    assert appt.state == Appointment.State.BOOKED and not SlaBreach.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_scans_at_once_record_each_breach_once(order):
    import threading

    from django.db import connection

    now = timezone.now()
    _set_stage(order, "measuring", state=S.IN_PROGRESS, sla_due_at=now - timedelta(hours=1))
    results = []

    def run():
        try:
            results.append(sla_scan(now=now)[Kind.STAGE_OVERDUE])
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0, 1]
    assert SlaBreach.objects.count() == 1
    assert OrderEvent.objects.filter(order=order, kind="sla.stage_overdue").count() == 1


def test_a_recorded_stage_is_marked_and_leaves_the_candidates(order, settings):
    """The steady state reads only subjects not yet recorded: a recorded stage carries its mark (so it leaves the
    partial index of migration 0006), and a stage whose breach was recorded before the marks existed is marked
    when the scan meets it, without a second breach."""
    from insights.sla import overdue_approvals, overdue_stages

    settings.INSIGHTS_APPROVAL_WAIT_HOURS = 72
    now = timezone.now()
    late = _set_stage(order, "measuring", state=S.IN_PROGRESS, sla_due_at=now - timedelta(hours=8))
    waiting = _set_stage(order, "design", state=S.AWAITING_APPROVAL, submitted_at=now - timedelta(hours=73))
    assert {s.pk for s in overdue_stages(now)} == {late.pk}
    assert {s.pk for s in overdue_approvals(now)} == {waiting.pk}

    sla_scan(now=now)
    late.refresh_from_db()
    waiting.refresh_from_db()
    assert late.sla_overdue_reported_at == now and late.approval_overdue_reported_at is None
    assert waiting.approval_overdue_reported_at == now
    assert not overdue_stages(now).exists() and not overdue_approvals(now).exists()

    # A breach recorded without the mark (before migration 0006's backfill, say): still recorded once, now marked.
    StageInstance.objects.filter(pk=late.pk).update(sla_overdue_reported_at=None)
    from insights.sla import _record
    assert _record(kind=Kind.STAGE_OVERDUE, order_id=order.pk, stage_id=late.pk, due_at=late.sla_due_at, now=now,
                   still_breached=lambda o: True) is None
    late.refresh_from_db()
    assert late.sla_overdue_reported_at == now
    assert SlaBreach.objects.filter(kind=Kind.STAGE_OVERDUE).count() == 1


def test_installments_are_walked_by_due_time_across_ties(order, settings):
    """The payments app's scan pages in (due_at, id) order, its partial index's order: every overdue installment is
    found with batches of one, due times tied and against id order."""
    settings.INSIGHTS_INSTALLMENT_OVERDUE_HOURS = 48
    now = timezone.now()
    due = list(Installment.objects.filter(order=order).order_by("pk"))
    when = [now - timedelta(hours=50), now - timedelta(hours=60), now - timedelta(hours=60), now - timedelta(hours=70)]
    for inst, at in zip(due, when, strict=False):
        Installment.objects.filter(pk=inst.pk).update(state=Installment.State.DUE, due_at=at)
    assert sla_scan(now=now, batch_size=1)[Kind.INSTALLMENT_OVERDUE] == len(due[:4])
    assert not Installment.objects.filter(order=order, state=Installment.State.DUE,
                                          overdue_reported_at__isnull=True).exists()
