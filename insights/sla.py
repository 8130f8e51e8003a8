"""The SLA monitor: finds breaches in batches with indexed queries and records each one once.

Four kinds (SlaBreach.Kind):
- stage_overdue: a started stage past `sla_due_at` and not done (partial index on open stages'
  `sla_due_at`, created by this app's migration 0002);
- no_show: a booked appointment with no check-in by `window_end` + the stage's arrival tolerance
  (index `(state, window_end)` of workflows.Appointment); fieldwork's `appointment_mark_no_show`
  is called when that service exists;
- approval_overdue: a stage awaiting the consumer's approval for longer than
  INSIGHTS_APPROVAL_WAIT_HOURS since `submitted_at` (partial index on awaiting stages);
- installment_overdue: a payments.Installment due and unpaid for longer than
  INSIGHTS_INSTALLMENT_OVERDUE_HOURS since its `due_at`.

Each breach is recorded under the order's row lock, together with an "sla.<kind>" order event
(which the notifications app turns into a message to the store manager). The candidate queries
exclude subjects already breached (NOT EXISTS on SlaBreach) and the partial unique constraints
on SlaBreach make a concurrent second scan a no-op: running the scan twice records nothing new.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from django.apps import apps
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from insights.conf import setting
from insights.models import SlaBreach
from workflows import engine
from workflows.events import record_event
from workflows.models import Appointment, ServiceOrder, StageInstance

logger = logging.getLogger(__name__)
Kind = SlaBreach.Kind
S = StageInstance.State
OPEN_STAGE_STATES = (S.READY, S.SCHEDULED, S.IN_PROGRESS, S.AWAITING_APPROVAL, S.ESCALATED, S.WAITING_PAYMENT)


def _model(app_label: str, name: str):
    try:
        return apps.get_model(app_label, name)
    except LookupError:
        return None


def _keyset(qs: QuerySet, batch_size: int) -> Iterator[list]:
    """Walk `qs` in primary-key batches (keyset pagination: each batch is one indexed query)."""
    last_pk = 0
    while True:
        batch = list(qs.filter(pk__gt=last_pk).order_by("pk")[:batch_size])
        if not batch:
            return
        yield batch
        last_pk = batch[-1].pk


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
            lookup.update(appointment__isnull=True, installment__isnull=True)
        if SlaBreach.objects.filter(**lookup).exists():
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
        stage = StageInstance.objects.filter(pk=stage_id).first() if stage_id else None
        breach.event = record_event(
            order=order, kind=f"sla.{kind}", stage=stage,
            payload={"breach_id": breach.pk, "kind": kind, "due_at": due_at.isoformat(), "store_id": order.store_id,
                     "appointment_id": appointment_id, "installment_id": installment_id, **(details or {})},
        )
        breach.save(update_fields=["event"])
        return breach


def _not_breached(kind: str, field: str) -> Exists:
    return ~Exists(SlaBreach.objects.filter(kind=kind, **{field: OuterRef("pk")}))


# --- 1. stages past their SLA -------------------------------------------------------------------
def overdue_stages(now: datetime) -> QuerySet[StageInstance]:
    return (StageInstance.objects
            .filter(sla_due_at__lt=now, state__in=OPEN_STAGE_STATES, order__status=ServiceOrder.Status.ACTIVE)
            .filter(_not_breached(Kind.STAGE_OVERDUE, "stage"))
            .only("pk", "order_id", "sla_due_at", "state"))


def scan_stage_overdue(now: datetime, batch_size: int) -> int:
    found = 0
    for batch in _keyset(overdue_stages(now), batch_size):
        for st in batch:
            def still(order, st=st):
                return StageInstance.objects.filter(pk=st.pk, state__in=OPEN_STAGE_STATES, sla_due_at__lt=now).exists()
            found += bool(_record(kind=Kind.STAGE_OVERDUE, order_id=st.order_id, stage_id=st.pk, due_at=st.sla_due_at,
                                  now=now, still_breached=still, details={"stage_state": st.state}))
    return found


# --- 2. no-shows ------------------------------------------------------------------------------
def no_show_candidates(now: datetime) -> QuerySet[Appointment]:
    qs = (Appointment.objects
          .filter(state=Appointment.State.BOOKED, window_end__lt=now, order__status=ServiceOrder.Status.ACTIVE)
          .filter(_not_breached(Kind.NO_SHOW, "appointment")))
    checkin = _model("fieldwork", "CheckIn")
    if checkin is not None:
        qs = qs.filter(~Exists(checkin.objects.filter(appointment=OuterRef("pk"))))
    return qs.select_related("stage__definition").only(
        "pk", "order_id", "stage_id", "window_end", "technician_id", "state",
        "stage__definition__arrival_tolerance_minutes", "stage__definition__code",
    )


def _mark_no_show(appointment_id: int) -> Callable[[ServiceOrder], None]:
    def run(order: ServiceOrder) -> None:
        try:
            from fieldwork import services as fieldwork_services
        except ImportError:
            return
        mark = getattr(fieldwork_services, "appointment_mark_no_show", None)
        if mark is None:
            return
        appointment = Appointment.objects.get(pk=appointment_id)
        mark(appointment=appointment, actor=None)
    return run


def scan_no_show(now: datetime, batch_size: int) -> int:
    found = 0
    for batch in _keyset(no_show_candidates(now), batch_size):
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
            .filter(state=S.AWAITING_APPROVAL, submitted_at__lt=limit, order__status=ServiceOrder.Status.ACTIVE)
            .filter(_not_breached(Kind.APPROVAL_OVERDUE, "stage"))
            .only("pk", "order_id", "submitted_at"))


def scan_approval_overdue(now: datetime, batch_size: int) -> int:
    hours = setting("INSIGHTS_APPROVAL_WAIT_HOURS")
    found = 0
    for batch in _keyset(overdue_approvals(now), batch_size):
        for st in batch:
            def still(order, st=st):
                return StageInstance.objects.filter(pk=st.pk, state=S.AWAITING_APPROVAL).exists()
            found += bool(_record(kind=Kind.APPROVAL_OVERDUE, order_id=st.order_id, stage_id=st.pk,
                                  due_at=st.submitted_at + timedelta(hours=hours), now=now, still_breached=still,
                                  details={"waiting_hours": hours}))
    return found


# --- 4. installments unpaid too long -------------------------------------------------------------
INSTALLMENT_DUE_STATE = "due"


def overdue_installments(now: datetime) -> QuerySet | None:
    installment = _model("payments", "Installment")
    if installment is None:
        return None
    limit = now - timedelta(hours=setting("INSIGHTS_INSTALLMENT_OVERDUE_HOURS"))
    return (installment.objects
            .filter(state=INSTALLMENT_DUE_STATE, due_at__lt=limit, order__status=ServiceOrder.Status.ACTIVE)
            .filter(_not_breached(Kind.INSTALLMENT_OVERDUE, "installment"))
            .only("pk", "order_id", "stage_id", "due_at", "amount"))


def scan_installment_overdue(now: datetime, batch_size: int) -> int:
    qs = overdue_installments(now)
    if qs is None:
        return 0
    hours = setting("INSIGHTS_INSTALLMENT_OVERDUE_HOURS")
    found = 0
    for batch in _keyset(qs, batch_size):
        for inst in batch:
            def still(order, inst=inst):
                return type(inst).objects.filter(pk=inst.pk, state=INSTALLMENT_DUE_STATE).exists()
            found += bool(_record(
                kind=Kind.INSTALLMENT_OVERDUE, order_id=inst.order_id, stage_id=inst.stage_id,
                installment_id=inst.pk, due_at=inst.due_at + timedelta(hours=hours), now=now, still_breached=still,
                details={"amount": str(inst.amount)},
            ))
    return found


SCANS = {
    Kind.STAGE_OVERDUE: scan_stage_overdue,
    Kind.NO_SHOW: scan_no_show,
    Kind.APPROVAL_OVERDUE: scan_approval_overdue,
    Kind.INSTALLMENT_OVERDUE: scan_installment_overdue,
}


def sla_scan(*, now: datetime | None = None, batch_size: int | None = None) -> dict[str, int]:
    """Run every scan; returns the number of new breaches per kind. Safe to run at any time, twice."""
    now = now or timezone.now()
    batch_size = batch_size or setting("INSIGHTS_SLA_SCAN_BATCH_SIZE")
    counts = {str(kind): scan(now, batch_size) for kind, scan in SCANS.items()}
    if any(counts.values()):
        logger.info("sla scan recorded %s", counts)
    return counts
