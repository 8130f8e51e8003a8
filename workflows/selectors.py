"""Read-side queries of the workflows app (scoped by tenancy.scoping)."""

from __future__ import annotations

from django.core.files import File
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils.translation import gettext as _

from core.compiled import CompiledQuery
from core.errors import NotFound
from core.files import stored_file_open
from core.filters import parse_id
from tenancy.models import User
from tenancy.scoping import visible_to
from workflows import hooks
from workflows.models import (
    Appointment,
    OrderEvent,
    ServiceOrder,
    StageInstance,
    StageSubmissionFile,
    WorkflowTemplate,
)

S = StageInstance.State


def order_list_visible_to(*, user: User) -> QuerySet[ServiceOrder]:
    return visible_to(ServiceOrder.objects.all(), user).select_related(
        "store", "consumer", "template_version__template", "current_stage__definition"
    )


def order_detail_queryset(*, user: User, queryset: QuerySet[ServiceOrder] | None = None) -> QuerySet[ServiceOrder]:
    """The orders `user` may see (of `queryset`, all by default), with what the detail shows of their store,
    consumer and template, and what the order sections annotate (hooks.order_section_annotations). The rest
    comes from order_detail_load, in a fixed number of queries whatever the order's size."""
    return (
        visible_to(queryset if queryset is not None else ServiceOrder.objects.all(), user)
        .select_related("store", "consumer", "template_version__template")
        .only(*DETAIL_ORDER_FIELDS)
        .annotate(**hooks.order_section_annotations())
    )


DETAIL_ORDER_FIELDS = (
    "number", "external_ref", "merchant", "store", "consumer", "template_version", "total_amount", "currency",
    "service_address",
    "latitude", "longitude", "state", "status", "current_stage", "created_at", "completed_at", "cancelled_at",
    "cancel_reason", "tracking_token_version", "store__name", "consumer__username", "consumer__first_name",
    "consumer__last_name", "template_version__number", "template_version__template__name",
)
DETAIL_STAGE_FIELDS = (
    "id", "order_id", "position", "state", "rework_rounds", "entered_at", "started_at", "submitted_at",
    "completed_at", "sla_due_at", "sla_paused_at", "waiting_seconds", "submission_notes", "definition__code",
    "definition__name",
    "definition__requires_appointment", "definition__requires_approval", "definition__requires_voucher",
    "definition__payment_share", "definition__payment_amount", "definition__payment_timing",
)
# A stage's submission files as the detail lists them: never their storage name (downloads go through the API).
DETAIL_FILE_FIELDS = {
    "id": "submission_files__id", "name": "submission_files__original_name",
    "content_type": "submission_files__content_type", "size": "submission_files__size",
}
DETAIL_APPOINTMENT_FIELDS = (
    "id", "order_id", "stage_id", "store_id", "technician_id", "technician__username", "technician__first_name",
    "technician__last_name", "window_start", "window_end", "state", "reschedule_count", "checked_in_at",
    "checked_out_at",
)
# The same, read through the stage (order_detail_load reads stages and visits in one query).
DETAIL_STAGE_APPOINTMENT_FIELDS = {field: f"appointments__{field}" for field in DETAIL_APPOINTMENT_FIELDS}
DETAIL_EVENT_FIELDS = (
    "order_id", "seq", "kind", "stage_id", "trigger", "from_state", "to_state", "actor_id", "actor__username",
    "actor__first_name", "actor__last_name", "actor_role", "created_at", "payload",
)


def _by_order(rows, orders) -> dict[int, list[dict]]:
    """{order id: [rows]} for the given orders (each gets a list, empty when it has no rows)."""
    grouped = {o.pk: [] for o in orders}
    for row in rows:
        grouped[row["order_id"]].append(row)
    return grouped


# The detail's reads, compiled once per connection (core.compiled): compiling them cost more than running them.
_DETAIL_STAGES = CompiledQuery("detail.stages", lambda ids: (
    StageInstance.objects.filter(order_id__in=ids)
    .order_by("order_id", "position", "submission_files__id", "appointments__id")
    .values(*DETAIL_STAGE_FIELDS, *DETAIL_FILE_FIELDS.values(), *DETAIL_STAGE_APPOINTMENT_FIELDS.values())))
_DETAIL_EVENTS = CompiledQuery("detail.events", lambda ids: (
    OrderEvent.objects.filter(order_id__in=ids).order_by("order_id", "seq").values(*DETAIL_EVENT_FIELDS)))


def order_detail_load(orders) -> list[hooks.OrderDetailRows]:
    """Read everything the detail of these orders shows: two queries for the workflow's own rows (stages with
    their definitions, submission files and visits; events), then each section's load. Plain values, no model
    instances: this is the hot path of the consumer app."""
    orders = list(orders)
    if not orders:
        return []
    ids = [o.pk for o in orders]
    # One row per stage, file and visit (LEFT JOINs: a stage without files or visits comes once, with None; a stage
    # with both comes once per pair, which the seen sets fold back).
    rows = _DETAIL_STAGES.values(ids=ids)
    stages: dict[int, list[dict]] = {o.pk: [] for o in orders}
    files: dict[int, list[dict]] = {}
    appointments: dict[int, list[dict]] = {o.pk: [] for o in orders}
    seen_files, seen_appointments = set(), set()
    for row in rows:
        file = {key: row.pop(column) for key, column in DETAIL_FILE_FIELDS.items()}
        appointment = {key: row.pop(column) for key, column in DETAIL_STAGE_APPOINTMENT_FIELDS.items()}
        stage_files = files.get(row["id"])
        if stage_files is None:
            stage_files = files[row["id"]] = []
            stages[row["order_id"]].append(row)
        if file["id"] is not None and file["id"] not in seen_files:
            seen_files.add(file["id"])
            stage_files.append(file)
        if appointment["id"] is not None and appointment["id"] not in seen_appointments:
            seen_appointments.add(appointment["id"])
            appointments[appointment["order_id"]].append(appointment)
    for visits in appointments.values():
        visits.sort(key=lambda a: (a["window_start"], a["id"]))
    events = _by_order(_DETAIL_EVENTS.values(ids=ids), orders)
    details = [
        hooks.OrderDetailRows(order=order, stages=stages[order.pk], files=files,
                              appointments=appointments[order.pk], events=events[order.pk])
        for order in orders
    ]
    hooks.load_order_sections(details)
    return details


def order_detail_row(*, user: User, order_id, queryset: QuerySet[ServiceOrder] | None = None):
    """Order `order_id` as order_detail_queryset reads it, with `detail_version`, the hash of its latest event,
    when `user` may see it (and it is in `queryset`), else None. One query: a cached detail uses only its id,
    tracking link version, consumer and version; a detail built anew uses the whole row.

    The latest event's hash names the order's whole history (each hash covers the one before), and
    every change the detail shows writes an event in the same transaction: a new change, a new hash.
    """
    if queryset is None and user.is_authenticated and user.role == User.Role.CONSUMER and not user.is_operator:
        # The consumer app's hot path: compiled once per connection, scoped by visible_to as any other read.
        order_id = parse_id(order_id)
        rows = [] if order_id is None else _CONSUMER_DETAIL_ROW.models(
            order_id=order_id, consumer_id=user.pk, shape=tuple(s.name for s in hooks.order_sections()))
        return rows[0] if rows else None
    return next(iter(_detail_row(user, order_id, queryset)), None)


def _detail_row(user: User, order_id, queryset=None) -> QuerySet[ServiceOrder]:
    latest = OrderEvent.objects.filter(order_id=OuterRef("pk")).order_by("-seq").values("hash")[:1]
    return (order_detail_queryset(user=user, queryset=queryset).filter(pk=order_id).order_by()
            .annotate(detail_version=Subquery(latest))[:1])


_CONSUMER_DETAIL_ROW = CompiledQuery("detail.consumer_order_row", lambda order_id, consumer_id: (
    _detail_row(User(pk=consumer_id, role=User.Role.CONSUMER), order_id)))


def stage_submission_file_get(*, user: User, stage_id: int, file_id: int) -> StageSubmissionFile:
    """One file attached to a stage of an order `user` may see (the same scope as the order's detail), in one
    query. An invisible order, an unknown id and the id of another stage's file all answer the same NotFound."""
    orders = visible_to(ServiceOrder.objects.filter(stages__pk=stage_id), user)
    row = (StageSubmissionFile.objects.filter(pk=file_id, stage_id=stage_id, stage__order__in=orders.values("pk"))
           .only("stage", "file", "content_type").first())
    if row is None:
        raise NotFound(_("No such file."))
    return row


def stage_submission_file_open(row: StageSubmissionFile) -> File:
    """The stored file, opened for reading through its field's storage (NotFound when it is gone)."""
    return stored_file_open(row.file, missing="The file of this submission is missing.",
                            code="submission_file_missing")


def template_list_visible_to(*, user: User) -> QuerySet[WorkflowTemplate]:
    return visible_to(WorkflowTemplate.objects.select_related("merchant"), user)


NEXT_STEP_TEXT = {
    S.WAITING_PAYMENT: ("consumer", "pay", "Pay the installment that is due to continue."),
    S.SCHEDULED: ("technician", "visit", "A technician will come at the booked time."),
    S.IN_PROGRESS: ("store", "work", "The work on this stage is under way."),
    S.AWAITING_APPROVAL: ("consumer", "approve", "Review the work: approve it, or reject it with a reason."),
    S.ESCALATED: ("store", "resolve", "The store is looking into the rejected work."),
}


def order_next_step(order: ServiceOrder, current: dict | None, appointments: list[dict] = ()) -> dict:
    """What happens next and who must act, in plain words (consumer app and tracking page).
    `current` is the order's current stage and `appointments` its visits as order_detail_load reads them."""
    if order.state == "completed":
        return {"actor": None, "action": None, "text": "The service is complete. Thank you!"}
    if order.state == "cancelled":
        return {"actor": None, "action": None, "text": "The order was cancelled."}
    if order.state == "closing":
        return {"actor": "consumer", "action": "pay", "text": "Pay the final installment to complete the order."}
    if current is None:
        return {"actor": None, "action": None, "text": ""}
    if current["state"] == S.READY:
        name = current["definition__name"]
        if current["definition__requires_appointment"]:
            return {"actor": "consumer", "action": "book", "text": f"Book a time for '{name}'."}
        return {"actor": "store", "action": "work", "text": f"The store is preparing '{name}'."}
    if current["state"] == S.SCHEDULED and _visit_missed(current["id"], appointments):
        return {"actor": "consumer", "action": "reschedule",
                "text": "Nobody came to the booked visit: pick a new time for it, or the store will call you."}
    actor, action, text = NEXT_STEP_TEXT.get(current["state"], (None, None, ""))
    return {"actor": actor, "action": action, "text": text}


def _visit_missed(stage_id: int, appointments) -> bool:
    """Whether the stage's latest visit that was not moved away is a no-show (not rebooked yet), from the
    detail's rows."""
    kept = [a for a in appointments if a["stage_id"] == stage_id and a["state"] != Appointment.State.CANCELLED]
    latest = max(kept, key=lambda a: (a["window_start"], a["id"]), default=None)
    return latest is not None and latest["state"] == Appointment.State.NO_SHOW


def stage_visit_missed(*, stage_id: int) -> bool:
    """_visit_missed in one query, for a page that has not read the visits."""
    latest = (Appointment.objects.filter(stage_id=stage_id).exclude(state=Appointment.State.CANCELLED)
              .order_by("-window_start", "-pk").values_list("state", flat=True).first())
    return latest == Appointment.State.NO_SHOW


# --- the store's day (the admin's start page for store staff) ------------------------------------------------
DAY_AT_RISK_HOURS = 24  # a stage whose SLA ends within this many hours (or has ended) is "at risk"


def store_day(*, user: User, store, now=None) -> dict:
    """What a store's staff need today and tomorrow, in four queries: the visits (store's local days) by
    technician, the visits nobody is assigned to, and the orders waiting on the store (a visit to book,
    off-site work to deliver, an escalated stage, an SLA ending soon or past); plus one query per list other apps
    add (hooks.register_day_list: low ratings). All within `user`'s scope."""
    from datetime import datetime, time, timedelta

    from django.utils import timezone

    now = now or timezone.now()
    tz = store.tzinfo
    today = timezone.localtime(now, tz).date()
    start = datetime.combine(today, time.min, tzinfo=tz)
    visits = list(
        visible_to(Appointment.objects.all(), user)
        .filter(store=store, window_start__gte=start, window_start__lt=start + timedelta(days=2))
        .exclude(state=Appointment.State.CANCELLED)
        .select_related("order", "stage__definition", "technician").order_by("window_start", "pk")
    )
    days = []
    for offset in (0, 1):
        day = today + timedelta(days=offset)
        by_tech: dict = {}
        for v in visits:
            if timezone.localtime(v.window_start, tz).date() == day:
                by_tech.setdefault(v.technician, []).append(v)
        days.append({"date": day, "technicians": sorted(by_tech.items(), key=lambda kv: (
            kv[0] is None, kv[0].display_name if kv[0] else ""))})
    unassigned = list(
        visible_to(Appointment.objects.all(), user)
        .filter(store=store, state=Appointment.State.BOOKED, technician__isnull=True, window_end__gte=now)
        .select_related("order", "stage__definition").order_by("window_start")[:50]
    )
    open_states = (S.READY, S.IN_PROGRESS, S.ESCALATED, S.SCHEDULED, S.AWAITING_APPROVAL, S.WAITING_PAYMENT)
    waiting = list(
        visible_to(ServiceOrder.objects.all(), user)
        .filter(store=store, status=ServiceOrder.Status.ACTIVE, current_stage__state__in=open_states)
        .select_related("current_stage__definition", "consumer").order_by("current_stage__sla_due_at", "pk")[:500]
    )
    soon = now + timedelta(hours=DAY_AT_RISK_HOURS)
    lists: dict[str, list] = {"to_book": [], "to_deliver": [], "escalated": [], "sla_at_risk": []}
    for order in waiting:
        stage = order.current_stage
        on_site = stage.definition.requires_appointment
        if stage.state == S.READY and on_site:
            lists["to_book"].append(order)
        if stage.state in (S.READY, S.IN_PROGRESS) and not on_site:
            lists["to_deliver"].append(order)
        if stage.state == S.ESCALATED:
            lists["escalated"].append(order)
        if stage.sla_due_at is not None and stage.sla_due_at < soon:
            lists["sla_at_risk"].append(order)
    more = [{"key": d.key, "heading": d.heading, "rows": d.load(user=user, store=store, now=now)}
            for d in hooks.day_lists()]
    return {"today": today, "days": days, "unassigned": unassigned, **lists, "more_lists": more}


def live_orders_by_stage(*, user: User, version) -> dict[int, dict[str, int]]:
    """{stage definition id: {stage state: active orders}} of the orders on this version `user` may see (one
    query): where the live orders sit, for the workflow diagram."""
    from django.db.models import Count

    rows = (visible_to(ServiceOrder.objects.filter(template_version=version, status=ServiceOrder.Status.ACTIVE), user)
            .order_by().values_list("current_stage__definition_id", "current_stage__state").annotate(n=Count("pk")))
    counts: dict[int, dict[str, int]] = {}
    for definition_id, state, n in rows:
        if definition_id is not None:
            counts.setdefault(definition_id, {})[state] = n
    return counts
