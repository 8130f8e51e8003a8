"""What the fieldwork app tells the engine: guards on "complete" and the order detail's
"visits" section. Registered in FieldworkConfig.ready(); the engine never imports this app."""

from __future__ import annotations

from fieldwork import selectors
from workflows.models import Appointment, ServiceOrder, StageInstance

A = Appointment.State


def _on_site(stage: StageInstance | None) -> bool:
    return stage is not None and stage.definition.requires_appointment


def guard_visit_checked_in(order: ServiceOrder, stage: StageInstance) -> str | None:
    if not _on_site(stage):
        return None
    appointment = selectors.stage_active_appointment(stage=stage)
    if appointment is None or appointment.state not in (A.CHECKED_IN, A.CHECKED_OUT):
        return "The technician has not checked in on site yet."
    return None


def guard_photos(order: ServiceOrder, stage: StageInstance) -> str | None:
    if not _on_site(stage) or not stage.definition.min_photos:
        return None
    missing = stage.definition.min_photos - selectors.stage_photo_count(stage=stage)
    if missing <= 0:
        return None
    return "1 more photo is needed." if missing == 1 else f"{missing} more photos are needed."


def guard_checklist(order: ServiceOrder, stage: StageInstance) -> str | None:
    if not _on_site(stage) or not stage.definition.checklist:
        return None
    open_items = [item for item, ticked in selectors.stage_checklist_state(stage=stage).items() if not ticked]
    if not open_items:
        return None
    return "Checklist items not ticked yet: " + ", ".join(open_items) + "."


VISITS_ATTR = "fieldwork_visit_records"
_RECORD_FIELDS = ("appointment_id", "recorded_at", "received_at", "late_sync")


def _load_visits(orders) -> None:
    """Keep each order's check-ins and check-outs on it: {appointment id: (check-ins, check-outs)},
    two queries for all the orders (plain rows), none when they have no visit."""
    from fieldwork.models import CheckIn, CheckOut

    ids = [o.pk for o in orders if o.detail_appointments]
    records: dict[int, tuple[list, list]] = {}
    if ids:
        for row in (CheckIn.objects.filter(appointment__order_id__in=ids)
                    .values_list(*_RECORD_FIELDS, "on_time", "minutes_late", "outside_radius", "distance_m", "pk",
                                 named=True)):
            records.setdefault(row.appointment_id, ([], []))[0].append(row)
        for row in CheckOut.objects.filter(appointment__order_id__in=ids).values_list(*_RECORD_FIELDS, "pk",
                                                                                       named=True):
            records.setdefault(row.appointment_id, ([], []))[1].append(row)
    for order in orders:
        setattr(order, VISITS_ATTR, records)


def _visits_section(order, request) -> list[dict]:
    """Each visit of the order with its check-in/out facts (reads loaded rows only)."""
    rows = []
    records = getattr(order, VISITS_ATTR)
    for appointment in sorted(order.detail_appointments, key=lambda a: (a["window_start"], a["id"])):
        checkins, checkouts = records.get(appointment["id"], ((), ()))
        checkins = sorted(checkins, key=lambda c: (c.recorded_at, c.pk))
        checkouts = sorted(checkouts, key=lambda c: (c.recorded_at, c.pk))
        first_in = checkins[0] if checkins else None
        last_out = checkouts[-1] if checkouts else None
        rows.append({
            "appointment": appointment["id"],
            "stage": appointment["stage_id"],
            "technician": appointment["technician_id"],
            "state": appointment["state"],
            "window_start": appointment["window_start"].isoformat(),
            "window_end": appointment["window_end"].isoformat(),
            "checked_in_at": first_in.recorded_at.isoformat() if first_in else None,
            "checked_in_received_at": first_in.received_at.isoformat() if first_in else None,
            "on_time": first_in.on_time if first_in else None,
            "minutes_late": first_in.minutes_late if first_in else None,
            "outside_radius": first_in.outside_radius if first_in else None,
            "distance_m": first_in.distance_m if first_in else None,
            "checked_out_at": last_out.recorded_at.isoformat() if last_out else None,
            "checked_out_received_at": last_out.received_at.isoformat() if last_out else None,
            "late_sync": any(r.late_sync for r in (*checkins, *checkouts)),
        })
    return rows


def register() -> None:
    from workflows import hooks

    hooks.register_guard("complete", guard_visit_checked_in)
    hooks.register_guard("complete", guard_photos)
    hooks.register_guard("complete", guard_checklist)
    hooks.register_order_section(
        "visits", load=_load_visits, serialize=_visits_section,
    )
