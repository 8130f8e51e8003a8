"""The technician on site: check-in (time and place; it starts the stage), check-out, checklist answers."""

from __future__ import annotations

from datetime import datetime, timedelta
from math import ceil

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from core import display
from core.errors import Conflict, DomainError, InvalidTransition
from fieldwork import events, selectors
from fieldwork.models import CheckIn, ChecklistSubmission, CheckOut
from fieldwork.services.actions import (
    RECORDED,
    ActionResult,
    _coord,
    _distance_to_order,
    _event_times,
    _run_action,
    is_late_sync,
)
from tenancy.models import User
from workflows import engine
from workflows.events import written_together
from workflows.models import Appointment, ServiceOrder, StageInstance

S = StageInstance.State
A = Appointment.State


ALREADY_CHECKED_IN = {
    A.CHECKED_IN: "You have already checked in to this visit.",
    A.CHECKED_OUT: "This visit is over: you checked out already.",
}


def _refuse_too_early(order: ServiceOrder, appointment: Appointment, recorded_at: datetime) -> None:
    """A check-in long before the window (another day's visit tapped by mistake) would start the stage: 409."""
    earliest = appointment.window_start - timedelta(minutes=settings.CHECKIN_EARLIEST_MINUTES)
    if recorded_at >= earliest:
        return
    tz = order.store.tzinfo

    def local(t: datetime) -> str:
        return display.when(t, tz=tz)

    raise Conflict(_("This visit starts at %(start)s (%(tz)s): check in from %(earliest)s on, when you are there.")
                   % {"start": local(appointment.window_start), "tz": order.store.timezone,
                      "earliest": local(earliest)},
                   code="too_early",
                   window_start=appointment.window_start.isoformat(), earliest_check_in=earliest.isoformat())


def job_check_in(*, technician: User, job_id: int, client_event_id, recorded_at: datetime,
                 latitude, longitude, accuracy_m: float | None = None, job_first: bool = False) -> ActionResult:
    """The technician arrives: record time and place, mark the visit checked in, start the stage."""
    request = {"recorded_at": recorded_at, "latitude": str(latitude), "longitude": str(longitude),
               "accuracy_m": accuracy_m}

    def work(order: ServiceOrder, appointment: Appointment, received_at: datetime) -> ActionResult:
        if appointment.state != A.BOOKED:
            raise InvalidTransition(ALREADY_CHECKED_IN.get(appointment.state, "This visit cannot be checked in."),
                                    allowed=[])
        _refuse_too_early(order, appointment, recorded_at)
        definition = appointment.stage.definition
        distance = _distance_to_order(order, latitude, longitude)
        radius = settings.CHECKIN_RADIUS_METERS
        outside = distance > radius
        # An accuracy circle wider than the radius: the position says nothing about being on site.
        low_accuracy = accuracy_m is not None and accuracy_m > radius
        reasons = [r for r, hit in (("outside_radius", outside), ("low_accuracy", low_accuracy)) if hit]
        tolerance = timedelta(minutes=definition.arrival_tolerance_minutes)
        on_time = recorded_at <= appointment.window_start + tolerance
        # Early by more than the tolerance: on time, but the consumer may not be ready; the metrics count it.
        early = recorded_at < appointment.window_start - tolerance
        late_by = (recorded_at - appointment.window_start).total_seconds()
        minutes_late = max(0, ceil(late_by / 60))
        minutes_early = max(0, ceil(-late_by / 60))
        late_sync = is_late_sync(recorded_at, received_at)
        checkin = CheckIn.objects.create(
            appointment=appointment, technician=technician, client_event_id=client_event_id,
            recorded_at=recorded_at, received_at=received_at, latitude=_coord(latitude),
            longitude=_coord(longitude), accuracy_m=accuracy_m, distance_m=distance, outside_radius=outside,
            on_time=on_time, minutes_late=minutes_late, minutes_early=minutes_early, late_sync=late_sync,
            low_accuracy=low_accuracy, location_flagged=bool(reasons),
        )
        appointment.mark_checked_in(at=recorded_at)
        appointment.save(update_fields=["state", "checked_in_at"])
        payload = {"checkin": checkin.pk, "distance_m": distance,
                   "outside_radius": outside, "on_time": on_time, "minutes_late": minutes_late,
                   "early": early, "minutes_early": minutes_early, "accuracy_m": accuracy_m,
                   "low_accuracy": low_accuracy, **_event_times(recorded_at, received_at, late_sync)}
        # The check-in's events and the stage.start it causes: one INSERT (the job's events held for the start's).
        with written_together():
            starts = order.state == engine.state_name(definition.code, S.SCHEDULED)
            job = {"order": order, "appointment": appointment, "actor": technician, "hold": starts, **payload}
            events.job_event(events.JOB_CHECKED_IN, **job)
            if not on_time:
                events.job_event(events.JOB_LATE_ARRIVAL, **job, window_start=appointment.window_start.isoformat(),
                                 tolerance_minutes=definition.arrival_tolerance_minutes)
            if outside:
                events.job_event(events.JOB_CHECKIN_OUTSIDE_RADIUS, **job, radius_m=radius)
            if reasons:  # the notifications app tells the store's managers at once
                events.job_event(events.JOB_CHECKIN_FLAGGED, **job, radius_m=radius, reasons=reasons)
            if starts:
                engine.fire_locked(order, trigger="start", actor=technician, stage_id=appointment.stage_id,
                                   payload={"appointment": appointment.pk, "checkin": checkin.pk})
        return ActionResult(RECORDED, {
            "id": checkin.pk, "job": appointment.pk, "client_event_id": str(client_event_id),
            "recorded_at": recorded_at, "received_at": received_at, "distance_m": distance,
            "outside_radius": outside, "on_time": on_time, "minutes_late": minutes_late,
            "minutes_early": minutes_early, "late_sync": late_sync, "low_accuracy": low_accuracy,
            "location_flagged": bool(reasons),
            "job_state": appointment.state, "order_state": order.state,
        })

    return _run_action(technician=technician, job_id=job_id, client_event_id=client_event_id, kind="check_in",
                       recorded_at=recorded_at, request=request, work=work, job_first=job_first)


def checklist_normalize(checklist, items: list[str]) -> dict[str, bool]:
    """`{item: bool}` (a partial answer) or a list of the ticked items (a full answer: items not
    listed are unticked). Unknown items are a 400."""
    if checklist is None:
        return {}
    if isinstance(checklist, dict):
        answer = checklist
    elif isinstance(checklist, list):
        if not all(isinstance(i, str) for i in checklist):
            raise DomainError(_("Checklist items are texts."), code="invalid",
                              errors={"checklist": ["A list of ticked items (texts) was expected."]})
        answer = {item: item in checklist for item in items}
        answer.update(dict.fromkeys(checklist, True))
    else:
        raise DomainError(_("The checklist is {item: true/false} or a list of ticked items."), code="invalid",
                          errors={"checklist": ["Expected an object or a list."]})
    unknown = sorted(k for k in answer if k not in items)
    if unknown:
        raise DomainError("Not on this stage's checklist: " + ", ".join(unknown), code="invalid",
                          errors={"checklist": [f"Not on this stage's checklist: {', '.join(unknown)}."]})
    if not all(isinstance(v, bool) for v in answer.values()):
        raise DomainError(_("Checklist answers are true or false."), code="invalid",
                          errors={"checklist": ["Each answer must be true or false."]})
    return {k: answer[k] for k in items if k in answer}


def job_check_out(*, technician: User, job_id: int, client_event_id, recorded_at: datetime,
                  latitude, longitude, notes: str = "", checklist=None, accuracy_m: float | None = None,
                  job_first: bool = False) -> ActionResult:
    """The technician leaves: record time, place, notes and checklist answers; mark the visit done."""
    request = {"recorded_at": recorded_at, "latitude": str(latitude), "longitude": str(longitude),
               "notes": notes, "checklist": checklist}

    def work(order: ServiceOrder, appointment: Appointment, received_at: datetime) -> ActionResult:
        if appointment.state != A.CHECKED_IN:
            raise InvalidTransition("Check in before checking out." if appointment.state == A.BOOKED
                                    else "This visit is already checked out.", allowed=[])
        answers = checklist_normalize(checklist, selectors.stage_checklist(stage=appointment.stage))
        if recorded_at < appointment.checked_in_at:
            raise DomainError(_("The check-out is earlier than the check-in."), code="invalid",
                              errors={"recorded_at": ["Earlier than the check-in."]})
        distance = _distance_to_order(order, latitude, longitude)
        outside = distance > settings.CHECKIN_RADIUS_METERS
        late_sync = is_late_sync(recorded_at, received_at)
        checkout = CheckOut.objects.create(
            appointment=appointment, technician=technician, client_event_id=client_event_id,
            recorded_at=recorded_at, received_at=received_at, latitude=_coord(latitude),
            longitude=_coord(longitude), accuracy_m=accuracy_m, distance_m=distance, outside_radius=outside,
            late_sync=late_sync, notes=notes, checklist=answers,
        )
        appointment.mark_checked_out(at=recorded_at)
        appointment.save(update_fields=["state", "checked_out_at"])
        events.job_event(events.JOB_CHECKED_OUT, order=order, appointment=appointment, actor=technician,
                         checkout=checkout.pk, distance_m=distance, outside_radius=outside, checklist=answers,
                         notes=notes, **_event_times(recorded_at, received_at, late_sync))
        return ActionResult(RECORDED, {
            "id": checkout.pk, "job": appointment.pk, "client_event_id": str(client_event_id),
            "recorded_at": recorded_at, "received_at": received_at, "distance_m": distance,
            "outside_radius": outside, "late_sync": late_sync, "checklist": answers, "job_state": appointment.state,
        })

    return _run_action(technician=technician, job_id=job_id, client_event_id=client_event_id, kind="check_out",
                       recorded_at=recorded_at, request=request, work=work, job_first=job_first)


def job_checklist_submit(*, technician: User, job_id: int, client_event_id, checklist,
                         recorded_at: datetime | None = None, job_first: bool = False) -> ActionResult:
    """Tick checklist items of the job's stage without checking out."""
    recorded_at = recorded_at or timezone.now()

    def work(order: ServiceOrder, appointment: Appointment, received_at: datetime) -> ActionResult:
        if appointment.state not in (A.CHECKED_IN, A.CHECKED_OUT):
            raise InvalidTransition(_("Check in before answering the checklist."), allowed=[])
        answers = checklist_normalize(checklist, selectors.stage_checklist(stage=appointment.stage))
        late_sync = is_late_sync(recorded_at, received_at)
        entry = ChecklistSubmission.objects.create(
            appointment=appointment, stage=appointment.stage, technician=technician,
            client_event_id=client_event_id, checklist=answers, recorded_at=recorded_at, received_at=received_at,
            late_sync=late_sync,
        )
        events.job_event(events.JOB_CHECKLIST_UPDATED, order=order, appointment=appointment, actor=technician,
                         checklist=answers, **_event_times(recorded_at, received_at, late_sync))
        return ActionResult(RECORDED, {"id": entry.pk, "job": appointment.pk, "client_event_id": str(client_event_id),
                             "checklist": selectors.stage_checklist_state(stage=appointment.stage),
                             "late_sync": late_sync})

    return _run_action(technician=technician, job_id=job_id, client_event_id=client_event_id, kind="checklist",
                       recorded_at=recorded_at, request={"checklist": checklist, "recorded_at": recorded_at},
                       work=work, job_first=job_first)

