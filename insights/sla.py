"""The SLA monitor: finds breaches in batches with indexed queries and records each one once.

Four kinds (SlaBreach.Kind):
- stage_overdue: a stage past `sla_due_at`, not done and not waiting on the consumer (its clock paused:
  `sla_paused_at`; partial index on open stages' `sla_due_at`, created by this app's migration 0002);
- no_show: a visit still booked (nobody checked in) by `window_end` + the stage's arrival tolerance
  (index `(state, window_end)` of workflows.Appointment); the visit is marked a no-show;
- approval_overdue: a stage awaiting the consumer's approval for longer than
  INSIGHTS_APPROVAL_WAIT_HOURS since `submitted_at` (partial index on awaiting stages);
- installment_overdue: found by the payments app itself (workflows.hooks.register_sla_scan: an
  installment due and unpaid for longer than INSIGHTS_INSTALLMENT_OVERDUE_HOURS), recorded here.

Each breach is recorded under the order's row lock, together with an "sla.<kind>" order event
(which the notifications app turns into a message to the store manager). The candidate queries
exclude subjects already breached (a stage's mark, `sla_overdue_reported_at` / `approval_overdue_reported_at`, which
takes it out of the partial index; a visit leaves its index by being marked a no-show; and NOT EXISTS on SlaBreach
as a safety net) and the partial unique constraints
on SlaBreach make a concurrent second scan a no-op: running the scan twice records nothing new.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import reduce

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from core.planning import plans_for_short_reads
from insights import events
from insights.conf import setting
from insights.models import SlaBreach
from workflows import engine, hooks
from workflows.models import Appointment, ServiceOrder, StageDefinition, StageInstance
from workflows.services import appointment_mark_no_show

logger = logging.getLogger(__name__)
Kind = SlaBreach.Kind
S = StageInstance.State
OPEN_STAGE_STATES = (S.READY, S.SCHEDULED, S.IN_PROGRESS, S.AWAITING_APPROVAL, S.ESCALATED, S.WAITING_PAYMENT)


def _keyset(qs: QuerySet, batch_size: int, by: str | None = None) -> Iterator[list]:
    """Walk `qs` in batches (keyset pagination: each batch is one indexed query), in primary-key order, or in
    (`by`, pk) order: then PostgreSQL follows `by`'s partial index over the open subjects instead of walking the
    whole table's primary key (at 10^5 orders, 60 ms against 620 ms for the steady-state stage scan)."""
    last = None
    while True:
        page = qs
        if last is not None:
            page = (page.filter(Q(**{f"{by}__gt": last[0]}) | Q(**{by: last[0], "pk__gt": last[1]})) if by
                    else page.filter(pk__gt=last[1]))
        batch = list(page.order_by(*((by,) if by else ()), "pk")[:batch_size])
        if not batch:
            return
        yield batch
        last = (getattr(batch[-1], by) if by else None, batch[-1].pk)


def _record(*, kind: str, order_id: int, due_at: datetime, now: datetime, stage_id=None, appointment_id=None,
            installment_id=None, still_breached: Callable[[ServiceOrder], bool], details: dict | None = None,
            before_record: Callable[[ServiceOrder], None] | None = None) -> SlaBreach | None:
    """Lock the order, re-check under the lock, write the breach and its event. None if nothing recorded."""
    subject = {"stage_id": stage_id, "appointment_id": appointment_id, "installment_id": installment_id}
    with transaction.atomic():
        order = engine.lock_order(order_id)
        if order.is_final or not still_breached(order):
            return None
        lookup = {"kind": kind, **{k: v for k, v in subject.items() if v is not None}}
        if appointment_id is None and installment_id is None:
            lookup.update(appointment__isnull=True, installment_id__isnull=True)
        if SlaBreach.objects.filter(**lookup).exists():
            _mark_reported(kind, stage_id, now)  # recorded before the marks existed, or by another path
            return None
        if before_record is not None:
            before_record(order)
        try:
            with transaction.atomic():
                breach = SlaBreach.objects.create(
                    kind=kind, order=order, merchant_id=order.merchant_id, store_id=order.store_id,
                    due_at=due_at, detected_at=now, details=details or {}, **subject,
                )
        except IntegrityError:  # another scan got there first
            return None
        breach.event = events.breach_recorded(order=order, breach=breach, details=details or {})
        breach.save(update_fields=["event"])
        _mark_reported(kind, stage_id, now)
        return breach


# A stage whose breach is recorded is marked, so it leaves the scan's partial index (insights/migrations/0006): the
# steady state reads only subjects not yet recorded, however many recorded ones are still open.
REPORTED_MARK = {Kind.STAGE_OVERDUE: "sla_overdue_reported_at", Kind.APPROVAL_OVERDUE: "approval_overdue_reported_at"}


def _mark_reported(kind: str, stage_id: int | None, now: datetime) -> None:
    mark = REPORTED_MARK.get(kind)
    if mark is not None and stage_id is not None:
        StageInstance.objects.filter(pk=stage_id, **{f"{mark}__isnull": True}).update(**{mark: now})


def _not_breached(kind: str, field: str) -> Exists:
    return ~Exists(SlaBreach.objects.filter(kind=kind, **{field: OuterRef("pk")}))


# --- 1. stages past their SLA -------------------------------------------------------------------
def overdue_stages(now: datetime) -> QuerySet[StageInstance]:
    return (StageInstance.objects
            .filter(sla_due_at__lt=now, state__in=OPEN_STAGE_STATES, order__status=ServiceOrder.Status.ACTIVE,
                    sla_paused_at__isnull=True,  # a stopped clock (waiting on the consumer) is no breach
                    sla_overdue_reported_at__isnull=True)
            .filter(_not_breached(Kind.STAGE_OVERDUE, "stage"))
            .only("pk", "order_id", "sla_due_at", "state"))


def scan_stage_overdue(now: datetime, batch_size: int) -> int:
    found = 0
    for batch in _keyset(overdue_stages(now), batch_size, by="sla_due_at"):
        for st in batch:
            def still(order, st=st):
                return StageInstance.objects.filter(pk=st.pk, state__in=OPEN_STAGE_STATES, sla_due_at__lt=now,
                                                    sla_paused_at__isnull=True).exists()
            found += bool(_record(kind=Kind.STAGE_OVERDUE, order_id=st.order_id, stage_id=st.pk, due_at=st.sla_due_at,
                                  now=now, still_breached=still, details={"stage_state": st.state}))
    return found


# --- 2. no-shows ------------------------------------------------------------------------------
def no_show_candidates(now: datetime) -> QuerySet[Appointment]:
    qs = (Appointment.objects
          .filter(state=Appointment.State.BOOKED, window_end__lt=now, order__status=ServiceOrder.Status.ACTIVE)
          .filter(_not_breached(Kind.NO_SHOW, "appointment")))
    return qs.select_related("stage__definition").only(
        "pk", "order_id", "stage_id", "window_end", "technician_id", "state",
        "stage__definition__arrival_tolerance_minutes", "stage__definition__code",
    )


def _mark_no_show(appointment_id: int) -> Callable[[ServiceOrder], None]:
    def run(order: ServiceOrder) -> None:
        appointment_mark_no_show(appointment=Appointment.objects.get(pk=appointment_id), actor=None)
    return run


def booked_past_window(now: datetime) -> QuerySet[Appointment]:
    """Visits still booked past their window and their stage's arrival tolerance: a range of the (state, window_end)
    index, each row checked against its stage's tolerance in the same statement. Not joined to the orders and
    breaches here: PostgreSQL's planner (which cannot know that booked visits lie mostly ahead) hashed every active
    order and every no-show breach on each scan (35 ms at 10^5 orders, growing with history). And not the visits
    merely past their window: those within their tolerance are work in flight, 118 of them at 10^6 orders, read and
    built on every scan (two thirds of its time there)."""
    tolerances = sorted(set(StageDefinition.objects.filter(requires_appointment=True)
                            .values_list("arrival_tolerance_minutes", flat=True)))
    if not tolerances:
        return Appointment.objects.none()
    # The tolerance as a subquery per visit, not a join: joined, the planner walked every stage of the tolerance's
    # definitions (12 s at 10^6 orders) instead of the few visits in the index's range.
    tolerance = Subquery(StageInstance.objects.filter(pk=OuterRef("stage_id")).order_by()
                         .values("definition__arrival_tolerance_minutes")[:1])
    past_tolerance = reduce(operator.or_, (Q(tolerance=minutes, window_end__lt=now - timedelta(minutes=minutes))
                                           for minutes in tolerances))
    # `state` too: a model with an FSM field reads its state when built (a deferred one costs a query per row).
    return (Appointment.objects
            .filter(state=Appointment.State.BOOKED, window_end__lt=now - timedelta(minutes=tolerances[0]))
            .alias(tolerance=tolerance).filter(past_tolerance)
            .only("pk", "window_end", "state"))


def scan_no_show(now: datetime, batch_size: int) -> int:
    found = 0
    for page in _keyset(booked_past_window(now), batch_size, by="window_end"):
        batch = no_show_candidates(now).filter(pk__in=[a.pk for a in page]).order_by("window_end", "pk")
        for appt in batch:
            due_at = appt.window_end + timedelta(minutes=appt.stage.definition.arrival_tolerance_minutes)
            if due_at >= now:
                continue

            def still(order, appt=appt):
                return Appointment.objects.filter(pk=appt.pk, state=Appointment.State.BOOKED).exists()
            found += bool(_record(
                kind=Kind.NO_SHOW, order_id=appt.order_id, stage_id=appt.stage_id, appointment_id=appt.pk,
                due_at=due_at, now=now, still_breached=still, before_record=_mark_no_show(appt.pk),
                details={"technician_id": appt.technician_id, "window_end": appt.window_end.isoformat()},
            ))
    return found


# --- 3. approvals waiting too long ----------------------------------------------------------------
def overdue_approvals(now: datetime) -> QuerySet[StageInstance]:
    limit = now - timedelta(hours=setting("INSIGHTS_APPROVAL_WAIT_HOURS"))
    return (StageInstance.objects
            .filter(state=S.AWAITING_APPROVAL, submitted_at__lt=limit, order__status=ServiceOrder.Status.ACTIVE,
                    approval_overdue_reported_at__isnull=True)
            .filter(_not_breached(Kind.APPROVAL_OVERDUE, "stage"))
            .only("pk", "order_id", "submitted_at"))


def scan_approval_overdue(now: datetime, batch_size: int) -> int:
    hours = setting("INSIGHTS_APPROVAL_WAIT_HOURS")
    found = 0
    for batch in _keyset(overdue_approvals(now), batch_size, by="submitted_at"):
        for st in batch:
            def still(order, st=st):
                return StageInstance.objects.filter(pk=st.pk, state=S.AWAITING_APPROVAL).exists()
            found += bool(_record(kind=Kind.APPROVAL_OVERDUE, order_id=st.order_id, stage_id=st.pk,
                                  due_at=st.submitted_at + timedelta(hours=hours), now=now, still_breached=still,
                                  details={"waiting_hours": hours}))
    return found


SCANS = {
    Kind.STAGE_OVERDUE: scan_stage_overdue,
    Kind.NO_SHOW: scan_no_show,
    Kind.APPROVAL_OVERDUE: scan_approval_overdue,
}


def record_breach(**kwargs) -> bool:
    """The recorder other apps' scans get (workflows.hooks.register_sla_scan): True when the subject's breach is
    recorded (now, or by an earlier scan), so the scan need not offer it again; False when it is not a breach
    (any more)."""
    if _record(**kwargs) is not None:
        return True
    subject = {k: kwargs[k] for k in ("stage_id", "appointment_id", "installment_id") if kwargs.get(k) is not None}
    return SlaBreach.objects.filter(kind=kwargs["kind"], **subject).exists()


def sla_scan(*, now: datetime | None = None, batch_size: int | None = None) -> dict[str, int]:
    """Run every scan; returns the number of new breaches per kind. Safe to run at any time, twice."""
    now = now or timezone.now()
    batch_size = batch_size or setting("INSIGHTS_SLA_SCAN_BATCH_SIZE")
    with plans_for_short_reads():
        counts = {str(kind): scan(now, batch_size) for kind, scan in SCANS.items()}
        for kind, scan in hooks.sla_scans().items():
            counts[kind] = scan(now, batch_size, record_breach)
    if any(counts.values()):
        logger.info("sla scan recorded %s", counts)
    return counts
