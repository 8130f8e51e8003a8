"""Write operations of the fieldwork app: every technician action, whichever way it arrives
(the job endpoints, the offline sync batch), goes through these functions.

Each action:
1. answers the stored first result when its `client_event_id` was seen before (a replay);
2. finds the job among the technician's appointments (404 otherwise), or, when the job was
   theirs and has since been reassigned, cancelled or marked a no-show, answers 409 `stale_job`
   and keeps the attempt (an order event "job.stale_action" and the stored client event);
3. in one transaction: locks the order (always before the appointment), re-checks the replay
   store under the lock, validates, writes its record, the order events and the stored answer.

An action returns an `Outcome` (HTTP-like status and JSON body) so the sync batch can report one
result per item; input errors and refusals are raised as core.errors exceptions.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from math import ceil

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import Exists, F
from django.utils import timezone

from core import files
from core.errors import Conflict, DomainError, InvalidTransition, NotFound
from fieldwork import selectors
from fieldwork.geo import haversine_m
from fieldwork.models import CheckIn, ChecklistSubmission, CheckOut, ClientEvent, Evidence
from tenancy.models import User
from workflows import engine
from workflows import services as workflow_services
from workflows.events import record_event
from workflows.models import Appointment, ServiceOrder, StageInstance

S = StageInstance.State
A = Appointment.State
SIX_PLACES = Decimal("0.000001")


@dataclass
class Outcome:
    status: int
    body: dict
    replayed: bool = False
    extra: dict = field(default_factory=dict)


# --- shared pieces -------------------------------------------------------------------------


def device_time_validate(recorded_at: datetime, *, now: datetime | None = None) -> datetime:
    """The device time, refused (400, field error) when in the future beyond the allowed clock
    skew or older than the longest offline period we accept."""
    now = now or timezone.now()
    if timezone.is_naive(recorded_at):
        raise DomainError("recorded_at needs a UTC offset.", code="invalid",
                          errors={"recorded_at": ["Give the time with its UTC offset."]})
    if recorded_at > now + timedelta(seconds=settings.DEVICE_CLOCK_SKEW_SECONDS):
        raise DomainError("recorded_at is in the future: check the phone's clock.", code="invalid",
                          errors={"recorded_at": ["This time is in the future; check the phone's clock."]})
    if recorded_at < now - timedelta(days=settings.DEVICE_MAX_OFFLINE_DAYS):
        raise DomainError(
            f"recorded_at is more than {settings.DEVICE_MAX_OFFLINE_DAYS} days old.", code="invalid",
            errors={"recorded_at": [f"Records older than {settings.DEVICE_MAX_OFFLINE_DAYS} days are not accepted."]},
        )
    return recorded_at


def is_late_sync(recorded_at: datetime, received_at: datetime) -> bool:
    return received_at - recorded_at > timedelta(hours=settings.LATE_SYNC_FLAG_HOURS)


def _json(body: dict) -> dict:
    """Round-trip through JSON so a stored answer and a fresh one are the same text."""
    import json

    return json.loads(json.dumps(body, cls=DjangoJSONEncoder))


def _coord(value) -> Decimal:
    return Decimal(str(value)).quantize(SIX_PLACES)


def _distance_to_order(order: ServiceOrder, latitude, longitude) -> float:
    return round(haversine_m(float(order.latitude), float(order.longitude), float(latitude), float(longitude)), 1)


def _replay(stored: ClientEvent, *, kind: str, job_id: int | None) -> Outcome:
    if stored.kind != kind or (job_id is not None and stored.appointment_id not in (None, job_id)):
        raise DomainError("This client_event_id was already used for another action.",
                          code="client_event_id_reused", status_code=422)
    return Outcome(stored.response_status, stored.response_body, replayed=True)


def _stored(technician: User, client_event_id) -> ClientEvent | None:
    # At most one row (unique per technician): no ordering needed.
    rows = ClientEvent.objects.filter(technician_id=technician.pk, client_event_id=client_event_id).order_by()[:1]
    return next(iter(rows), None)


def _seen(technician: User, client_event_id) -> Exists:
    """Whether an answer is stored for this id: asked inside the job's own query, so a first
    action (the usual case) costs no separate replay lookup; the stored row is read only when it exists."""
    return Exists(ClientEvent.objects.filter(technician_id=technician.pk, client_event_id=client_event_id))


def _store_answer(*, technician: User, client_event_id, kind: str, appointment: Appointment,
                  outcome: Outcome, recorded_at: datetime | None, request: dict | None = None) -> Outcome:
    outcome.body = _json(outcome.body)
    ClientEvent.objects.create(
        technician=technician, client_event_id=client_event_id, kind=kind, appointment=appointment,
        order_id=appointment.order_id, request=_json(request or {}), response_status=outcome.status,
        response_body=outcome.body, recorded_at=recorded_at,
    )
    return outcome


def _job_row(technician: User, job_id: int, client_event_id=None) -> Appointment | None:
    """The appointment with its store's merchant and (given an id) whether that id was seen: one query."""
    qs = Appointment.objects.filter(pk=job_id).annotate(store_merchant_id=F("store__merchant_id"))
    if client_event_id is not None:
        qs = qs.annotate(client_event_seen=_seen(technician, client_event_id))
    return next(iter(qs.order_by()[:1]), None)


def _stage_of(order: ServiceOrder, stage_id: int) -> StageInstance:
    """The visit's stage with its definition. Usually the order's current stage, which the engine's
    lock brings along: the same instance then serves this action and the engine's transition."""
    current = order.current_stage if _CURRENT_STAGE.is_cached(order) else None
    if current is not None and current.pk == stage_id and _DEFINITION.is_cached(current):
        return current
    return StageInstance.objects.select_related("definition").get(pk=stage_id)


_CURRENT_STAGE = ServiceOrder._meta.get_field("current_stage")
_DEFINITION = StageInstance._meta.get_field("definition")


def _check_job(technician: User, appointment: Appointment | None) -> None:
    """NotFound unless the job is (or was) the technician's: a job that was never theirs, or
    another merchant's, is a 404 (a stale one is answered under the lock)."""
    if appointment is None:
        raise NotFound("No such job.")
    if appointment.technician_id != technician.pk and \
            selectors.job_stale_reason(technician=technician, appointment=appointment) is None:
        raise NotFound("No such job.")
    if technician.merchant_id is None or appointment.store_merchant_id != technician.merchant_id:
        raise NotFound("No such job.")


def job_for_technician(*, technician: User, job_id: int) -> Appointment:
    """The job if it is (or was) the technician's, else NotFound: checked before reading the input,
    so a job of someone else answers 404 whatever was sent."""
    appointment = _job_row(technician, job_id)
    _check_job(technician, appointment)
    return appointment


STALE_DETAIL = {
    "reassigned": "This job was given to another technician.",
    "cancelled": "This job was cancelled.",
    "no_show": "This job was marked as a no-show.",
}


def _stale_outcome(*, technician, order, appointment, reason, kind, client_event_id, recorded_at,
                   received_at, request) -> Outcome:
    """Keep the refused action in the audit trail and answer 409 stale_job."""
    record_event(order=order, kind="job.stale_action", actor=technician, stage=appointment.stage, payload={
        "appointment": appointment.pk, "action": kind, "reason": reason,
        "client_event_id": str(client_event_id),
        "recorded_at": recorded_at.isoformat() if recorded_at else None,
        "received_at": received_at.isoformat(),
    })
    outcome = Outcome(409, {"code": "stale_job", "detail": STALE_DETAIL[reason], "job": appointment.pk,
                            "reason": reason})
    return _store_answer(technician=technician, client_event_id=client_event_id, kind=kind,
                         appointment=appointment, outcome=outcome, recorded_at=recorded_at, request=request)


def _run_action(*, technician: User, job_id: int, client_event_id, kind: str, recorded_at: datetime | None,
                request: dict, work: Callable[[ServiceOrder, Appointment, datetime], Outcome],
                validate_time: bool = True, job_first: bool = False) -> Outcome:
    """The frame every technician action shares (see the module docstring). `job_first`: the
    job endpoints answer 404 for someone else's job before anything else, a replay included;
    the sync batch answers a replay first."""
    if technician.role != User.Role.TECHNICIAN:
        raise NotFound("No such job.")
    client_event_id = uuid.UUID(str(client_event_id))
    appointment = _job_row(technician, job_id, client_event_id)
    if job_first:
        _check_job(technician, appointment)
    if appointment is None or appointment.client_event_seen:
        stored = _stored(technician, client_event_id)
        if stored is not None:
            return _replay(stored, kind=kind, job_id=job_id)
    received_at = timezone.now()
    if recorded_at is not None and validate_time:
        device_time_validate(recorded_at, now=received_at)
    if not job_first:
        _check_job(technician, appointment)
    try:
        with transaction.atomic():
            order = engine.lock_order(appointment.order_id)
            # Under the order lock: a duplicate that got the lock first has committed its answer,
            # and this statement's snapshot (taken after the lock) sees it.
            appointment = (Appointment.objects.select_for_update(of=("self",))
                           .annotate(client_event_seen=_seen(technician, client_event_id)).get(pk=appointment.pk))
            appointment.stage = _stage_of(order, appointment.stage_id)
            if appointment.client_event_seen:
                stored = _stored(technician, client_event_id)
                if stored is not None:
                    return _replay(stored, kind=kind, job_id=job_id)
            reason = selectors.job_stale_reason(technician=technician, appointment=appointment)
            if reason is not None:
                return _stale_outcome(technician=technician, order=order, appointment=appointment, reason=reason,
                                      kind=kind, client_event_id=client_event_id, recorded_at=recorded_at,
                                      received_at=received_at, request=request)
            if appointment.technician_id != technician.pk:
                raise NotFound("No such job.")
            outcome = work(order, appointment, received_at)
            return _store_answer(technician=technician, client_event_id=client_event_id, kind=kind,
                                 appointment=appointment, outcome=outcome, recorded_at=recorded_at,
                                 request=request)
    except IntegrityError:
        # The same id raced in through another request: answer what that one answered.
        stored = _stored(technician, client_event_id)
        if stored is None:
            raise Conflict("This action is being recorded by another request; retry.") from None
        return _replay(stored, kind=kind, job_id=job_id)


def _event_times(recorded_at: datetime, received_at: datetime, late_sync: bool) -> dict:
    return {"recorded_at": recorded_at.isoformat(), "received_at": received_at.isoformat(), "late_sync": late_sync}


# --- check-in / check-out --------------------------------------------------------------------

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
        return timezone.localtime(t, tz).strftime("%Y-%m-%d %H:%M")

    raise Conflict(f"This visit starts at {local(appointment.window_start)} ({order.store.timezone}): check in "
                   f"from {local(earliest)} on, when you are there.", code="too_early",
                   window_start=appointment.window_start.isoformat(), earliest_check_in=earliest.isoformat())


def job_check_in(*, technician: User, job_id: int, client_event_id, recorded_at: datetime,
                 latitude, longitude, accuracy_m: float | None = None, job_first: bool = False) -> Outcome:
    """The technician arrives: record time and place, mark the visit checked in, start the stage."""
    request = {"recorded_at": recorded_at, "latitude": str(latitude), "longitude": str(longitude),
               "accuracy_m": accuracy_m}

    def work(order: ServiceOrder, appointment: Appointment, received_at: datetime) -> Outcome:
        if appointment.state != A.BOOKED:
            raise InvalidTransition(ALREADY_CHECKED_IN.get(appointment.state, "This visit cannot be checked in."),
                                    allowed=[])
        _refuse_too_early(order, appointment, recorded_at)
        definition = appointment.stage.definition
        distance = _distance_to_order(order, latitude, longitude)
        outside = distance > settings.CHECKIN_RADIUS_METERS
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
        )
        appointment.mark_checked_in(at=recorded_at)
        appointment.save(update_fields=["state", "checked_in_at"])
        payload = {"appointment": appointment.pk, "checkin": checkin.pk, "distance_m": distance,
                   "outside_radius": outside, "on_time": on_time, "minutes_late": minutes_late,
                   "early": early, "minutes_early": minutes_early, "accuracy_m": accuracy_m,
                   **_event_times(recorded_at, received_at, late_sync)}
        record_event(order=order, kind="job.checked_in", actor=technician, stage=appointment.stage,
                     payload=payload)
        if not on_time:
            record_event(order=order, kind="job.late_arrival", actor=technician, stage=appointment.stage,
                         payload={**payload, "window_start": appointment.window_start.isoformat(),
                                  "tolerance_minutes": definition.arrival_tolerance_minutes})
        if outside:
            record_event(order=order, kind="job.checkin_outside_radius", actor=technician,
                         stage=appointment.stage,
                         payload={**payload, "radius_m": settings.CHECKIN_RADIUS_METERS})
        if order.state == engine.state_name(definition.code, S.SCHEDULED):
            engine.fire_locked(order, trigger="start", actor=technician, stage_id=appointment.stage_id,
                               payload={"appointment": appointment.pk, "checkin": checkin.pk})
        return Outcome(201, {
            "id": checkin.pk, "job": appointment.pk, "client_event_id": str(client_event_id),
            "recorded_at": recorded_at, "received_at": received_at, "distance_m": distance,
            "outside_radius": outside, "on_time": on_time, "minutes_late": minutes_late,
            "minutes_early": minutes_early, "late_sync": late_sync,
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
            raise DomainError("Checklist items are texts.", code="invalid",
                              errors={"checklist": ["A list of ticked items (texts) was expected."]})
        answer = {item: item in checklist for item in items}
        answer.update(dict.fromkeys(checklist, True))
    else:
        raise DomainError("The checklist is {item: true/false} or a list of ticked items.", code="invalid",
                          errors={"checklist": ["Expected an object or a list."]})
    unknown = sorted(k for k in answer if k not in items)
    if unknown:
        raise DomainError("Not on this stage's checklist: " + ", ".join(unknown), code="invalid",
                          errors={"checklist": [f"Not on this stage's checklist: {', '.join(unknown)}."]})
    if not all(isinstance(v, bool) for v in answer.values()):
        raise DomainError("Checklist answers are true or false.", code="invalid",
                          errors={"checklist": ["Each answer must be true or false."]})
    return {k: answer[k] for k in items if k in answer}


def job_check_out(*, technician: User, job_id: int, client_event_id, recorded_at: datetime,
                  latitude, longitude, notes: str = "", checklist=None, accuracy_m: float | None = None,
                  job_first: bool = False) -> Outcome:
    """The technician leaves: record time, place, notes and checklist answers; mark the visit done."""
    request = {"recorded_at": recorded_at, "latitude": str(latitude), "longitude": str(longitude),
               "notes": notes, "checklist": checklist}

    def work(order: ServiceOrder, appointment: Appointment, received_at: datetime) -> Outcome:
        if appointment.state != A.CHECKED_IN:
            raise InvalidTransition("Check in before checking out." if appointment.state == A.BOOKED
                                    else "This visit is already checked out.", allowed=[])
        answers = checklist_normalize(checklist, list(appointment.stage.definition.checklist or []))
        if recorded_at < appointment.checked_in_at:
            raise DomainError("The check-out is earlier than the check-in.", code="invalid",
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
        record_event(order=order, kind="job.checked_out", actor=technician, stage=appointment.stage, payload={
            "appointment": appointment.pk, "checkout": checkout.pk, "distance_m": distance,
            "outside_radius": outside, "checklist": answers, "notes": notes,
            **_event_times(recorded_at, received_at, late_sync),
        })
        return Outcome(201, {
            "id": checkout.pk, "job": appointment.pk, "client_event_id": str(client_event_id),
            "recorded_at": recorded_at, "received_at": received_at, "distance_m": distance,
            "outside_radius": outside, "late_sync": late_sync, "checklist": answers, "job_state": appointment.state,
        })

    return _run_action(technician=technician, job_id=job_id, client_event_id=client_event_id, kind="check_out",
                       recorded_at=recorded_at, request=request, work=work, job_first=job_first)


def job_checklist_submit(*, technician: User, job_id: int, client_event_id, checklist,
                         recorded_at: datetime | None = None, job_first: bool = False) -> Outcome:
    """Tick checklist items of the job's stage without checking out."""
    recorded_at = recorded_at or timezone.now()

    def work(order: ServiceOrder, appointment: Appointment, received_at: datetime) -> Outcome:
        if appointment.state not in (A.CHECKED_IN, A.CHECKED_OUT):
            raise InvalidTransition("Check in before answering the checklist.", allowed=[])
        answers = checklist_normalize(checklist, list(appointment.stage.definition.checklist or []))
        late_sync = is_late_sync(recorded_at, received_at)
        entry = ChecklistSubmission.objects.create(
            appointment=appointment, stage=appointment.stage, technician=technician,
            client_event_id=client_event_id, checklist=answers, recorded_at=recorded_at, received_at=received_at,
            late_sync=late_sync,
        )
        record_event(order=order, kind="job.checklist_updated", actor=technician, stage=appointment.stage,
                     payload={"appointment": appointment.pk, "checklist": answers,
                              **_event_times(recorded_at, received_at, late_sync)})
        return Outcome(201, {"id": entry.pk, "job": appointment.pk, "client_event_id": str(client_event_id),
                             "checklist": selectors.stage_checklist_state(stage=appointment.stage),
                             "late_sync": late_sync})

    return _run_action(technician=technician, job_id=job_id, client_event_id=client_event_id, kind="checklist",
                       recorded_at=recorded_at, request={"checklist": checklist, "recorded_at": recorded_at},
                       work=work, job_first=job_first)


# --- evidence ----------------------------------------------------------------------------------

# Every content type evidence_content_type stores (the download answers with it).
EVIDENCE_CONTENT_TYPES = (*files.IMAGE_FORMATS.values(), files.PDF, files.OPAQUE)


def evidence_content_type(*, data: bytes, kind: str) -> str:
    """The stored content type: detected from the bytes. A photo must be a real image; other
    kinds may be an image, a PDF, or anything else (stored as opaque bytes, never as HTML/SVG)."""
    if kind == Evidence.Kind.PHOTO:
        detected = files.detect_image(data)
        if detected is None:
            raise DomainError("The file is not a JPEG, PNG or WebP image.", code="invalid",
                              errors={"file": ["Upload a JPEG, PNG or WebP photo."]})
        return detected
    return files.detect_document(data) or files.OPAQUE


def job_evidence_add(*, technician: User, job_id: int, client_event_id, kind: str, file,
                     recorded_at: datetime | None = None) -> Outcome:
    """Store one piece of evidence for the job's stage (through Django's default storage)."""
    if kind not in Evidence.Kind.values:
        raise DomainError("Unknown evidence kind.", code="invalid",
                          errors={"kind": [f"One of: {', '.join(Evidence.Kind.values)}."]})
    recorded_at = recorded_at or timezone.now()
    stored = _stored(technician, uuid.UUID(str(client_event_id)))
    if stored is not None:  # a replay: do not even read the upload again
        return _replay(stored, kind="evidence", job_id=job_id)
    data = files.upload_read(file, max_bytes=settings.EVIDENCE_MAX_BYTES)
    content_type = evidence_content_type(data=data, kind=kind)
    sha256 = hashlib.sha256(data).hexdigest()
    saved_names: list[str] = []

    def work(order: ServiceOrder, appointment: Appointment, received_at: datetime) -> Outcome:
        if appointment.state not in (A.CHECKED_IN, A.CHECKED_OUT):
            raise InvalidTransition("Check in before adding evidence.", allowed=[])
        late_sync = is_late_sync(recorded_at, received_at)
        evidence = Evidence(
            order=order, appointment=appointment, stage=appointment.stage, technician=technician, kind=kind,
            sha256=sha256, size=len(data), content_type=content_type, client_event_id=client_event_id,
            recorded_at=recorded_at, received_at=received_at, late_sync=late_sync,
        )
        evidence.file.save("upload", ContentFile(data), save=False)
        saved_names.append(evidence.file.name)
        evidence.save()
        record_event(order=order, kind="job.evidence_added", actor=technician, stage=appointment.stage, payload={
            "appointment": appointment.pk, "evidence": evidence.pk, "kind": kind, "sha256": sha256,
            "size": len(data), "content_type": content_type, **_event_times(recorded_at, received_at, late_sync),
        })
        return Outcome(201, {
            "id": evidence.pk, "job": appointment.pk, "client_event_id": str(client_event_id), "kind": kind,
            "sha256": sha256, "size": len(data), "content_type": content_type, "recorded_at": recorded_at,
            "received_at": received_at, "late_sync": late_sync,
            "photo_count": selectors.stage_photo_count(stage=appointment.stage),
        })

    try:
        return _run_action(technician=technician, job_id=job_id, client_event_id=client_event_id,
                           kind="evidence", recorded_at=recorded_at,
                           request={"kind": kind, "sha256": sha256, "recorded_at": recorded_at}, work=work)
    except BaseException:
        for name in saved_names:  # the row was rolled back: do not keep its file
            default_storage.delete(name)
        raise


# --- completion ---------------------------------------------------------------------------------


def job_complete(*, technician: User, job_id: int, client_event_id=None,
                 recorded_at: datetime | None = None, job_first: bool = False) -> Outcome:
    """Submit the stage's work. The engine's guards decide (visit, evidence, checklist, voucher);
    the stage then waits for the consumer's approval where it needs it, or is done."""
    client_event_id = client_event_id or uuid.uuid4()
    recorded_at = recorded_at or timezone.now()

    def work(order: ServiceOrder, appointment: Appointment, received_at: datetime) -> Outcome:
        late_sync = is_late_sync(recorded_at, received_at)
        stage = appointment.stage
        result = workflow_services.stage_complete(stage=stage, actor=technician, payload={
            "appointment": appointment.pk, "client_event_id": str(client_event_id),
            **_event_times(recorded_at, received_at, late_sync),
        })
        stage.refresh_from_db(fields=["state", "completed_at", "submitted_at"])
        return Outcome(200, {
            "job": appointment.pk, "client_event_id": str(client_event_id),
            "stage": {"id": stage.pk, "code": stage.definition.code, "state": stage.state},
            "order_state": result.order.state, "late_sync": late_sync,
        })

    return _run_action(technician=technician, job_id=job_id, client_event_id=client_event_id, kind="complete",
                       recorded_at=recorded_at, request={"recorded_at": recorded_at}, work=work, job_first=job_first)


# --- no-show (for the SLA monitor) ----------------------------------------------------------


def appointment_mark_no_show(*, appointment: Appointment, actor=None) -> Appointment:
    """Mark a booked visit nobody came to as a no-show. Idempotent: a visit already marked, or
    no longer booked (checked in, cancelled), is left as it is and nothing is recorded."""
    with transaction.atomic():
        order = engine.lock_order(appointment.order_id)
        appointment = Appointment.objects.select_for_update(of=("self",)).select_related("stage").get(
            pk=appointment.pk)
        if appointment.state != A.BOOKED:
            return appointment
        appointment.mark_no_show()
        appointment.save()
        record_event(order=order, kind="job.no_show", actor=actor, stage=appointment.stage, payload={
            "appointment": appointment.pk, "technician": appointment.technician_id,
            "window_start": appointment.window_start.isoformat(), "window_end": appointment.window_end.isoformat(),
        })
        return appointment
