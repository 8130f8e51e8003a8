"""The frame every technician action shares (see fieldwork/services/__init__.py): replays, the job check,
stale jobs, the transaction and the stored first result."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import Exists, F
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, DomainError, NotFound
from fieldwork import events, selectors
from fieldwork.geo import haversine_m
from fieldwork.models import ClientEvent
from tenancy import policy
from tenancy.models import User
from workflows import engine
from workflows.models import Appointment, ServiceOrder, StageInstance

SIX_PLACES = Decimal("0.000001")
RECORDED, COMPLETED, STALE = ClientEvent.Outcome.RECORDED, ClientEvent.Outcome.COMPLETED, ClientEvent.Outcome.STALE


@dataclass
class ActionResult:
    """What a technician action came to: `recorded` (a new record: a check-in, a photo...), `completed` (the
    stage's work submitted) or `stale` (the job is no longer theirs: refused, and kept on the order's record);
    `data` describes it (the API shapes the response from it). `replayed`: the stored first result of a
    client_event_id seen before."""

    outcome: str
    data: dict
    replayed: bool = False


def device_time_validate(recorded_at: datetime, *, now: datetime | None = None) -> datetime:
    """The device time, refused (400, field error) when in the future beyond the allowed clock
    skew or older than the longest offline period we accept."""
    now = now or timezone.now()
    if timezone.is_naive(recorded_at):
        raise DomainError(_("recorded_at needs a UTC offset."), code="invalid",
                          errors={"recorded_at": ["Give the time with its UTC offset."]})
    if recorded_at > now + timedelta(seconds=settings.DEVICE_CLOCK_SKEW_SECONDS):
        raise DomainError(_("recorded_at is in the future: check the phone's clock."), code="invalid",
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
    """Round-trip through JSON so a stored result and a fresh one are the same text."""
    return json.loads(json.dumps(body, cls=DjangoJSONEncoder))


def _coord(value) -> Decimal:
    return Decimal(str(value)).quantize(SIX_PLACES)


def _distance_to_order(order: ServiceOrder, latitude, longitude) -> float:
    return round(haversine_m(float(order.latitude), float(order.longitude), float(latitude), float(longitude)), 1)



def _replay(stored: ClientEvent, *, kind: str, job_id: int | None) -> ActionResult:
    if stored.kind != kind or (job_id is not None and stored.appointment_id not in (None, job_id)):
        raise DomainError(_("This client_event_id was already used for another action."),
                          code="client_event_id_reused", status_code=422)
    return ActionResult(stored.outcome, stored.result, replayed=True)


def _stored(technician: User, client_event_id) -> ClientEvent | None:
    # At most one row (unique per technician): no ordering needed.
    rows = ClientEvent.objects.filter(technician_id=technician.pk, client_event_id=client_event_id).order_by()[:1]
    return next(iter(rows), None)


def _seen(technician: User, client_event_id) -> Exists:
    """Whether an answer is stored for this id: asked inside the job's own query, so a first
    action (the usual case) costs no separate replay lookup; the stored row is read only when it exists."""
    return Exists(ClientEvent.objects.filter(technician_id=technician.pk, client_event_id=client_event_id))



def _store_result(*, technician: User, client_event_id, kind: str, appointment: Appointment,
                  result: ActionResult, recorded_at: datetime | None, request: dict | None = None) -> ActionResult:
    result.data = _json(result.data)
    ClientEvent.objects.create(
        technician=technician, client_event_id=client_event_id, kind=kind, appointment=appointment,
        order_id=appointment.order_id, request=_json(request or {}), outcome=result.outcome, result=result.data,
        recorded_at=recorded_at,
    )
    return result


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
        raise NotFound(_("No such job."))
    if appointment.technician_id != technician.pk and \
            selectors.job_stale_reason(technician=technician, appointment=appointment) is None:
        raise NotFound(_("No such job."))
    if technician.merchant_id is None or appointment.store_merchant_id != technician.merchant_id:
        raise NotFound(_("No such job."))


def job_for_technician(*, technician: User, job_id: int) -> Appointment:
    """The job if it is (or was) the technician's, else NotFound: checked before reading the input,
    so a job of someone else answers 404 whatever was sent."""
    appointment = _job_row(technician, job_id)
    _check_job(technician, appointment)
    return appointment



def _stale_result(*, technician, order, appointment, reason, kind, client_event_id, recorded_at,
                  received_at, request) -> ActionResult:
    """Keep the refused action in the audit trail and answer `stale` (409 stale_job) with the reason."""
    events.job_event(events.JOB_STALE_ACTION, order=order, appointment=appointment, actor=technician, action=kind,
                     reason=reason, client_event_id=str(client_event_id),
                     recorded_at=recorded_at.isoformat() if recorded_at else None,
                     received_at=received_at.isoformat())
    result = ActionResult(STALE, {"job": appointment.pk, "reason": reason})
    return _store_result(technician=technician, client_event_id=client_event_id, kind=kind,
                         appointment=appointment, result=result, recorded_at=recorded_at, request=request)


def _lock_job(technician: User, job_id: int, client_event_id) -> Appointment | None:
    """The job locked with its order (the order first: engine.lock_order_with), its store's merchant and whether
    this id was seen, in one statement; None (nothing locked) for no such job or another merchant's."""
    if technician.merchant_id is None:
        return None
    qs = (Appointment.objects.filter(pk=job_id, store__merchant_id=technician.merchant_id)
          .annotate(store_merchant_id=F("store__merchant_id"), client_event_seen=_seen(technician, client_event_id)))
    return engine.lock_order_with(qs)


def _run_action(*, technician: User, job_id: int, client_event_id, kind: str, recorded_at: datetime | None,
                request: dict, work: Callable[[ServiceOrder, Appointment, datetime], ActionResult],
                validate_time: bool = True, job_first: bool = False) -> ActionResult:
    """The frame every technician action shares (see the module docstring). `job_first`: the
    job endpoints answer 404 for someone else's job before anything else, a replay included;
    the sync batch answers a replay first."""
    if not policy.may(technician, "job.work"):
        raise NotFound(_("No such job."))
    client_event_id = uuid.UUID(str(client_event_id))
    received_at = timezone.now()
    checked = False  # past the job's check and the replay's: a refusal from here on may be a duplicate's answer
    try:
        with transaction.atomic():
            appointment = _lock_job(technician, job_id, client_event_id)
            if job_first:
                _check_job(technician, appointment)
            if appointment is None or appointment.client_event_seen:
                stored = _stored(technician, client_event_id)
                if stored is not None:
                    return _replay(stored, kind=kind, job_id=job_id)
            if recorded_at is not None and validate_time:
                device_time_validate(recorded_at, now=received_at)
            if not job_first:
                _check_job(technician, appointment)
            checked = True
            order = appointment.order
            appointment.stage = _stage_of(order, appointment.stage_id)
            reason = selectors.job_stale_reason(technician=technician, appointment=appointment)
            if reason is not None:
                return _stale_result(technician=technician, order=order, appointment=appointment, reason=reason,
                                      kind=kind, client_event_id=client_event_id, recorded_at=recorded_at,
                                      received_at=received_at, request=request)
            if appointment.technician_id != technician.pk:
                raise NotFound(_("No such job."))
            result = work(order, appointment, received_at)
            return _store_result(technician=technician, client_event_id=client_event_id, kind=kind,
                                 appointment=appointment, result=result, recorded_at=recorded_at,
                                 request=request)
    except IntegrityError:
        # The same id raced in through another request: answer what that one answered.
        stored = _stored(technician, client_event_id)
        if stored is None:
            raise Conflict(_("This action is being recorded by another request; retry.")) from None
        return _replay(stored, kind=kind, job_id=job_id)
    except DomainError:
        # The lock's statement asks whether this id was seen in its snapshot, taken before it waited for the lock: a
        # duplicate that held the lock has committed its answer since, and this one, finding the visit changed
        # (checked in already), refuses. Answer what the duplicate answered (one read, on refusals only).
        stored = _stored(technician, client_event_id) if checked else None
        if stored is None:
            raise
        return _replay(stored, kind=kind, job_id=job_id)


def _event_times(recorded_at: datetime, received_at: datetime, late_sync: bool) -> dict:
    return {"recorded_at": recorded_at.isoformat(), "received_at": received_at.isoformat(), "late_sync": late_sync}

