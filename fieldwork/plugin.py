"""How the fieldwork app plugs into the stage engine (`register()`, called by FieldworkConfig.ready()):
guards on "complete" (the visit checked in, enough photos, the checklist ticked), where a visit was
checked in (for apps that record it), and the order detail's "visits" and "evidence_url" sections."""

from __future__ import annotations

from django.db.models import BooleanField, F, FloatField, IntegerField, Value
from django.urls import reverse
from rest_framework import serializers

from fieldwork import (
    admin_page,
    events,  # noqa: F401 - declares the field work's event kinds
    selectors,
)
from fieldwork.models import CheckIn, CheckOut
from workflows import hooks
from workflows.hooks import OrderDetailRows
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
    if not _on_site(stage) or not selectors.stage_checklist(stage=stage):
        return None
    open_items = [item for item, ticked in selectors.stage_checklist_state(stage=stage).items() if not ticked]
    if not open_items:
        return None
    return "Checklist items not ticked yet: " + ", ".join(open_items) + "."


def checkin_location(appointment: Appointment) -> tuple | None:
    """(latitude, longitude) of the visit's latest check-in, None when it has none."""
    return (CheckIn.objects.filter(appointment_id=appointment.pk).order_by("-pk")
            .values_list("latitude", "longitude").first())


def _site_records(model, appointment_ids: list[int], **first_in_facts):
    """One kind of site record as the same columns for both kinds, so they read in one UNION
    (each side: the shared model fields, then the same annotations in the same order)."""
    return (model.objects.filter(appointment_id__in=appointment_ids).order_by()
            .annotate(is_checkin=Value(model is CheckIn), **first_in_facts)
            .values_list("appointment_id", "recorded_at", "received_at", "late_sync", "pk", "is_checkin",
                         *first_in_facts, named=True))


def _load_visits(details: list[OrderDetailRows]) -> dict[int, dict]:
    """Each order's check-ins and check-outs: {order id: {appointment id: (check-ins, check-outs)}}.
    One query for all the orders (plain rows). A check-in is only ever recorded together with its
    visit's checked_in_at, so there is nothing to read when no visit has one."""
    appointments = [a["id"] for d in details for a in d.appointments if a["checked_in_at"] is not None]
    records: dict[int, tuple[list, list]] = {}
    if appointments:
        checkins = _site_records(CheckIn, appointments, on_time_=F("on_time"), minutes_late_=F("minutes_late"),
                                 minutes_early_=F("minutes_early"), outside_radius_=F("outside_radius"),
                                 distance_m_=F("distance_m"), low_accuracy_=F("low_accuracy"),
                                 location_flagged_=F("location_flagged"))
        checkouts = _site_records(
            CheckOut, appointments, on_time_=Value(None, BooleanField()), minutes_late_=Value(None, IntegerField()),
            minutes_early_=Value(None, IntegerField()), outside_radius_=Value(None, BooleanField()),
            distance_m_=Value(None, FloatField()), low_accuracy_=Value(None, BooleanField()),
            location_flagged_=Value(None, BooleanField()),
        )
        for row in checkins.union(checkouts, all=True):
            records.setdefault(row.appointment_id, ([], []))[0 if row.is_checkin else 1].append(row)
    return {d.order.pk: records for d in details}


def _visits_section(detail: OrderDetailRows, request) -> list[dict]:
    """Each visit of the order with its check-in/out facts (reads loaded rows only)."""
    rows = []
    records = detail.sections["visits"]
    for appointment in sorted(detail.appointments, key=lambda a: (a["window_start"], a["id"])):
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
            "on_time": first_in.on_time_ if first_in else None,
            "minutes_late": first_in.minutes_late_ if first_in else None,
            "minutes_early": first_in.minutes_early_ if first_in else None,
            "outside_radius": first_in.outside_radius_ if first_in else None,
            "distance_m": first_in.distance_m_ if first_in else None,
            "low_accuracy": first_in.low_accuracy_ if first_in else None,
            "location_flagged": first_in.location_flagged_ if first_in else None,
            "checked_out_at": last_out.recorded_at.isoformat() if last_out else None,
            "checked_out_received_at": last_out.received_at.isoformat() if last_out else None,
            "late_sync": any(r.late_sync for r in (*checkins, *checkouts)),
        })
    return rows


class VisitSection(serializers.Serializer):
    """One visit in the order detail with its check-in/out facts (the schema of _visits_section's items)."""

    appointment = serializers.IntegerField()
    stage = serializers.IntegerField()
    technician = serializers.IntegerField(allow_null=True)
    state = serializers.ChoiceField(choices=Appointment.State.choices)
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    checked_in_at = serializers.DateTimeField(allow_null=True, help_text="Device time of the first check-in.")
    checked_in_received_at = serializers.DateTimeField(allow_null=True, help_text="Server time it arrived.")
    on_time = serializers.BooleanField(allow_null=True)
    minutes_late = serializers.IntegerField(allow_null=True)
    minutes_early = serializers.IntegerField(allow_null=True)
    outside_radius = serializers.BooleanField(allow_null=True)
    distance_m = serializers.FloatField(allow_null=True, help_text="Check-in's distance to the service address.")
    low_accuracy = serializers.BooleanField(allow_null=True, help_text="The phone's accuracy was worse than the "
                                            "check-in radius.")
    location_flagged = serializers.BooleanField(allow_null=True, help_text="Outside the radius or low accuracy: "
                                                "the store was told.")
    checked_out_at = serializers.DateTimeField(allow_null=True, help_text="Device time of the last check-out.")
    checked_out_received_at = serializers.DateTimeField(allow_null=True)
    late_sync = serializers.BooleanField(help_text="A record of this visit reached the server long after it was made.")


def _visits_schema():
    return VisitSection(many=True, read_only=True)


def _evidence_url_section(detail: OrderDetailRows, request) -> str:
    """Where the order's evidence (photos, measurements) is listed, with each file's download link."""
    return reverse("order-evidence", kwargs={"id": detail.order.pk})


def _evidence_url_schema():
    return serializers.CharField(read_only=True, help_text="The order's evidence list (GET, same authentication).")


def register() -> None:
    from fieldwork.services import changes

    hooks.register_event_listener(changes.on_order_event)  # the job list's `changed` marks
    hooks.register_visit_location(checkin_location)
    hooks.register_guard("complete", guard_visit_checked_in)
    hooks.register_guard("complete", guard_photos)
    hooks.register_guard("complete", guard_checklist)
    hooks.register_order_section(
        "visits", load=_load_visits, serialize=_visits_section, schema=_visits_schema,
    )
    hooks.register_order_section("evidence_url", serialize=_evidence_url_section, schema=_evidence_url_schema)
    # Reads the "visits" section's check-ins; loads the evidence rows itself.
    hooks.register_admin_section("site", title=admin_page.TITLE, load=admin_page.load, render=admin_page.render,
                                 position=30)
    hooks.register_signature_store(signature_store)


def signature_store(stage: StageInstance, actor, data: bytes, sha256: str) -> None:
    """Keep the consumer's approval signature as an evidence file of kind "signature" (no visit)."""
    import uuid

    from django.core.files.base import ContentFile
    from django.utils import timezone

    from fieldwork.models import Evidence

    now = timezone.now()
    evidence = Evidence(order_id=stage.order_id, stage=stage, appointment=None, technician=actor,
                        kind=Evidence.Kind.SIGNATURE, sha256=sha256, size=len(data), content_type="image/png",
                        client_event_id=uuid.uuid4(), recorded_at=now, received_at=now)
    evidence.file.save("signature.png", ContentFile(data), save=False)
    evidence.save()
