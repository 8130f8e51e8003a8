"""Reads of the fieldwork app: a technician's jobs, what has been done on a stage, an order's evidence."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.files import File
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from core import files
from core.errors import NotFound
from fieldwork.models import CheckIn, ChecklistSubmission, CheckOut, Evidence, JobChange, JobListRead
from tenancy.models import User
from tenancy.scoping import visible_to
from workflows import hooks
from workflows.models import Appointment, OrderEvent, ServiceOrder, StageInstance
from workflows.store_values import order_store_values

JOB_RELATED = ("order__consumer", "store", "stage__definition")


def job_qs_for(*, technician: User) -> QuerySet[Appointment]:
    """The appointments the technician may see (assigned to them), with what a job row shows."""
    return visible_to(Appointment.objects.all(), technician).select_related(*JOB_RELATED)


def job_list_day(day: date | None) -> date:
    """The day a job list read is recorded under: the asked day, or today in the service's time zone."""
    return day or timezone.localdate()


def job_list_for_date(*, technician: User, day: date | None = None) -> QuerySet[Appointment]:
    """The technician's jobs whose window starts on `day` in their store's time zone (None: on today there,
    each store's own today), by window.

    A cancelled visit is listed when it was cancelled while theirs (its order cancelled, or moved to a colleague;
    not a visit they keep at another window). Each job carries its latest change (`change_kind`, `change_at`:
    fieldwork.services.changes) and when the technician last read this day's list (`list_read_at`).

    One small query finds the time zones of the technician's stores; the list itself is one query
    with one day-range per time zone, so the cost does not depend on the number of jobs.
    """
    changes = JobChange.objects.filter(technician=technician, stage=OuterRef("stage_id"),
                                       window_start=OuterRef("window_start")).order_by("-at", "-pk")
    read = JobListRead.objects.filter(technician=technician, day=job_list_day(day)).values("read_at")[:1]
    base = (job_qs_for(technician=technician)
            .filter(~Q(state=Appointment.State.CANCELLED) | Exists(changes.filter(kind=JobChange.Kind.CANCELLED)))
            .annotate(change_kind=Subquery(changes.values("kind")[:1]), change_at=Subquery(changes.values("at")[:1]),
                      list_read_at=Subquery(read)))
    zones = set(visible_to(Appointment.objects.all(), technician)
                .order_by().values_list("store__timezone", flat=True).distinct())
    if not zones:
        return base.none()
    now = timezone.now()
    day_filter = Q()
    for zone in sorted(zones):
        tz = ZoneInfo(zone)
        # Not the server's today: at 20:00 in New York it is already tomorrow in Shanghai.
        zone_day = day or now.astimezone(tz).date()
        start = datetime.combine(zone_day, time.min, tzinfo=tz)
        end = datetime.combine(zone_day + timedelta(days=1), time.min, tzinfo=tz)
        day_filter |= Q(store__timezone=zone, window_start__gte=start, window_start__lt=end)
    return base.filter(day_filter).annotate(evidence_count=Count("evidence")).order_by("window_start", "pk")


def job_get(*, technician: User, job_id: int) -> Appointment:
    job = job_qs_for(technician=technician).annotate(evidence_count=Count("evidence")).filter(pk=job_id).first()
    if job is None:
        raise NotFound(_("No such job."))
    return job


def job_stale_reason(*, technician: User, appointment: Appointment) -> str | None:
    """Why an action of this technician on this appointment is out of date, or None.

    "cancelled": the visit was cancelled (order cancelled, visit rescheduled) while it was theirs;
    "no_show": it was marked as a no-show; "reassigned": it was given to someone else after
    being theirs. None when the appointment is theirs and active (or was never theirs).
    """
    if appointment.technician_id == technician.pk:
        if appointment.state == Appointment.State.CANCELLED:
            return "cancelled"
        if appointment.state == Appointment.State.NO_SHOW:
            return "no_show"
        return None
    was_mine = OrderEvent.objects.filter(
        order_id=appointment.order_id, kind="appointment.assigned",
        payload__appointment=appointment.pk, payload__previous=technician.pk,
    ).exclude(payload__technician=technician.pk).exists()
    return "reassigned" if was_mine else None


def stage_checklist(*, stage: StageInstance) -> list[str]:
    """The items the technician ticks on the stage: the template's, then those its store added (within the
    brand's bounds, workflows.store_values)."""
    return order_store_values(stage.order).checklist_of(stage.definition)


def stage_checklist_state(*, stage: StageInstance) -> dict[str, bool]:
    """Each checklist item of the stage and whether it is ticked: the latest answer wins,
    across the check-outs and checklist submissions of the stage's visits (by device time)."""
    items = stage_checklist(stage=stage)
    state = dict.fromkeys(items, False)
    if not items:
        return state
    answers = [
        (c.recorded_at, c.received_at, c.checklist)
        for c in CheckOut.objects.filter(appointment__stage=stage).only("recorded_at", "received_at", "checklist")
    ] + [
        (c.recorded_at, c.received_at, c.checklist)
        for c in ChecklistSubmission.objects.filter(stage=stage).only("recorded_at", "received_at", "checklist")
    ]
    for _day, _at, answer in sorted(answers, key=lambda a: (a[0], a[1])):
        for item, ticked in (answer or {}).items():
            if item in state:
                state[item] = bool(ticked)
    return state


def stage_photo_count(*, stage: StageInstance) -> int:
    return Evidence.objects.filter(stage=stage, kind=Evidence.Kind.PHOTO).count()


def stage_active_appointment(*, stage: StageInstance) -> Appointment | None:
    """The stage's live visit: its latest that is neither cancelled (moved away) nor a no-show (missed, kept
    as a record beside the visit rebooked for it)."""
    return (Appointment.objects.filter(stage=stage)
            .exclude(state__in=(Appointment.State.CANCELLED, Appointment.State.NO_SHOW))
            .order_by("-window_start", "-pk").first())


def job_done_so_far(*, appointment: Appointment) -> dict:
    """What has been recorded on the job's stage so far (for the job detail)."""
    stage = appointment.stage
    checkins = list(CheckIn.objects.filter(appointment=appointment))
    checkouts = list(CheckOut.objects.filter(appointment=appointment))
    evidence = list(Evidence.objects.filter(stage=stage).order_by("recorded_at", "pk"))
    return {
        "checkins": checkins,
        "checkouts": checkouts,
        "evidence": evidence,
        "photo_count": sum(1 for e in evidence if e.kind == Evidence.Kind.PHOTO),
        "checklist": stage_checklist_state(stage=stage),
        # Known to the vouchers app (a stage fact it registers); None where nobody can say.
        "voucher_redeemed": (hooks.stage_facts(stage).get("voucher_redeemed")
                             if stage.definition.requires_voucher else None),
    }


# --- an order's evidence (consumer app, store staff) ------------------------------------------

# What the evidence list shows: the record, its stage's code; never the file's storage name.
EVIDENCE_LIST_FIELDS = (
    "order", "appointment", "stage__definition__code", "kind", "content_type", "size", "sha256",
    "recorded_at", "received_at", "late_sync",
)


def _orders_visible_to(user: User, order_id: int) -> QuerySet[ServiceOrder]:
    """The order, when `user` may see its detail (the same scope as GET /orders/{id}/)."""
    return visible_to(ServiceOrder.objects.filter(pk=order_id), user)


def order_evidence_list(*, user: User, order_id: int) -> QuerySet[Evidence]:
    """The evidence of an order `user` may see, by device time (NotFound otherwise). One query asks
    whether the order is visible; the list itself is one query whatever its length."""
    if not _orders_visible_to(user, order_id).exists():
        raise NotFound(_("No such order."))
    return (Evidence.objects.filter(order_id=order_id).select_related("stage__definition")
            .only(*EVIDENCE_LIST_FIELDS).order_by("recorded_at", "pk"))


def order_evidence_get(*, user: User, order_id: int, evidence_id: int) -> Evidence:
    """One piece of evidence of an order `user` may see, in one query. An invisible order, an unknown
    id and the id of another order's evidence all answer the same NotFound."""
    evidence = (Evidence.objects.filter(pk=evidence_id, order_id=order_id,
                                        order__in=_orders_visible_to(user, order_id).values("pk"))
                .only("order", "file", "content_type").first())
    if evidence is None:
        raise NotFound(_("No such evidence."))
    return evidence


def evidence_file_open(evidence: Evidence) -> File:
    """The stored file, opened for reading through its field's storage (NotFound when it is gone)."""
    return files.stored_file_open(evidence.file, missing="The file of this evidence is missing.",
                                  code="evidence_file_missing")
