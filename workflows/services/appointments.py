"""On-site visits: the bookable windows, booking, moving, assigning a technician, and marking a visit nobody
came to. Technicians are locked in id order whenever one is chosen, so two bookings never double-book; the store's
daily capacity per skill and its travel buffer between a technician's visits are in capacity.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, DomainError, InvalidTransition
from tenancy import policy
from tenancy.models import Store, User
from workflows import engine, hooks
from workflows.events import APPOINTMENT_ASSIGNED, APPOINTMENT_NO_SHOW, record_event
from workflows.models import Appointment, StageInstance
from workflows.services.capacity import capacity_claim, daily_capacity, day_loads, travel_buffer
from workflows.store_values import order_store_values

Role = User.Role


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime
    free_technicians: int


def appointment_minutes_for(stage: StageInstance) -> int:
    """The visit's length: the store's, within its brand's bounds, or the template's (workflows.store_values)."""
    return order_store_values(stage.order).appointment_minutes_of(stage.definition)


def _store_technician_ids(store: Store, skill: str = "") -> list[int]:
    """The store's active technicians, in id order; with `skill`, only those who have it."""
    rows = (User.objects.filter(role=Role.TECHNICIAN, is_active=True, stores=store)
            .order_by("pk").values_list("pk", "skills"))
    # Filtered here: JSON containment has no portable lookup (SQLite), and a store has a handful of technicians.
    return [pk for pk, skills in rows if not skill or skill in (skills or [])]


def required_skill(stage: StageInstance) -> str:
    return stage.definition.required_skill or ""


def technicians_busy(technician_ids: list[int], start: datetime, end: datetime,
                     exclude_pk: int | None = None, buffer: timedelta = timedelta(0)) -> set[int]:
    """Those of `technician_ids` with an active visit (other than `exclude_pk`) overlapping [start, end), or less
    than `buffer` (the store's travel buffer) before or after it."""
    qs = Appointment.objects.filter(
        technician_id__in=technician_ids,
        state__in=Appointment.ACTIVE_STATES,
        window_start__lt=end + buffer,
        window_end__gt=start - buffer,
    )
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    return set(qs.values_list("technician_id", flat=True))


def booking_horizon_end(store: Store, now: datetime | None = None) -> datetime:
    """The end of the booking horizon: the store's closing time APPOINTMENT_BOOKING_HORIZON_DAYS days after
    today (in the store's time zone). The slots listing stops there, and booking refuses a later window."""
    tz = store.tzinfo
    today = (now or timezone.now()).astimezone(tz).date()
    return datetime.combine(today + timedelta(days=settings.APPOINTMENT_BOOKING_HORIZON_DAYS), store.closes_at,
                            tzinfo=tz)


def appointment_slots(*, stage: StageInstance, now: datetime | None = None) -> list[Slot]:
    """Bookable windows: the store's working hours cut into the stage's appointment length, with
    at least one of the store's technicians free (the store's travel buffer kept around their other visits), on
    days the store still has a place for the stage's skill (capacity.py), up to the booking horizon
    (booking_horizon_end) and ending by the stage's booking deadline (hooks.booking_deadline: its e-voucher's
    expiry). The stage's own booked visit takes no place: these are also the windows it may be moved to."""
    if not stage.definition.requires_appointment:
        return []
    store = stage.order.store
    tz = store.tzinfo
    length = timedelta(minutes=appointment_minutes_for(stage))
    now = now or timezone.now()
    tech_ids = _store_technician_ids(store, required_skill(stage))
    if not tech_ids:
        return []
    first_day = now.astimezone(tz).date()
    horizon_end = booking_horizon_end(store, now)
    deadline = hooks.booking_deadline(stage)
    latest_end = min(horizon_end, deadline.until) if deadline else horizon_end
    if latest_end <= now:
        return []
    buffer = travel_buffer(store)
    busy = list(
        Appointment.objects.filter(
            technician_id__in=tech_ids,
            state__in=Appointment.ACTIVE_STATES,
            window_end__gt=now - buffer,
            window_start__lt=horizon_end + buffer,
        ).values_list("technician_id", "window_start", "window_end")
    )
    skill = required_skill(stage)
    capacity = daily_capacity(store, skill)
    loads = day_loads(store, skill, first_day, horizon_end.date(), not_stage=stage.pk) if capacity is not None else {}
    slots = []
    for offset in range((horizon_end.date() - first_day).days + 1):
        day = first_day + timedelta(days=offset)
        if day.weekday() not in store.working_days:
            continue
        if capacity is not None and loads.get(day, 0) >= capacity:
            continue
        start = datetime.combine(day, store.opens_at, tzinfo=tz)
        close = min(datetime.combine(day, store.closes_at, tzinfo=tz), latest_end)
        while start + length <= close:
            end = start + length
            if start > now:
                taken = {t for t, s, e in busy if s < end + buffer and e > start - buffer}
                free = len(tech_ids) - len(taken)
                if free > 0:
                    slots.append(Slot(start=start, end=end, free_technicians=free))
            start = end
    return slots


def _validate_window(stage: StageInstance, window_start: datetime) -> datetime:
    """The window's end, when `window_start` is one the slots listing could offer (the store's grid, in the
    future, within the booking horizon, ending by the stage's booking deadline); else DomainError, 400 on
    `window_start`. Whether a technician is free is the caller's business (under the technicians' locks)."""
    store = stage.order.store
    tz = store.tzinfo
    length = timedelta(minutes=appointment_minutes_for(stage))
    now = timezone.now()
    horizon_end = booking_horizon_end(store, now)
    # Compared before any arithmetic: a time near year 1 or 9999 overflows as soon as a zone or a length is
    # applied (comparing aware datetimes does not), and every window between now and the horizon is safe.
    if window_start <= now:
        raise _not_a_window()
    if window_start >= horizon_end:
        raise _beyond_horizon(horizon_end)
    local = window_start.astimezone(tz)
    opens = datetime.combine(local.date(), store.opens_at, tzinfo=tz)
    close = datetime.combine(local.date(), store.closes_at, tzinfo=tz)
    aligned = (local - opens) % length == timedelta(0)
    if local.weekday() not in store.working_days or local < opens or local + length > close or not aligned:
        raise _not_a_window()
    window_end = window_start + length
    if window_end > horizon_end:
        raise _beyond_horizon(horizon_end)
    deadline = hooks.booking_deadline(stage)
    if deadline is not None and window_end > deadline.until:
        raise DomainError(deadline.reason, code="invalid_window", errors={"window_start": [deadline.reason]})
    return window_end


def _not_a_window() -> DomainError:
    return DomainError(
        "That time is not one of the bookable windows; ask for the slots.",
        code="invalid_window",
        errors={"window_start": ["Not a bookable window."]},
    )


def _beyond_horizon(horizon_end: datetime) -> DomainError:
    days = settings.APPOINTMENT_BOOKING_HORIZON_DAYS
    message = (
        f"Visits can be booked up to {days} days ahead (until {horizon_end.strftime('%Y-%m-%d %H:%M')}, "
        "store time); pick one of the slots."
    )
    return DomainError(message, code="invalid_window", errors={"window_start": [message]})


def _lock_technicians(ids: list[int]) -> None:
    """Lock technician rows in pk order, so two bookings never deadlock and never double-book."""
    list(User.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))


def _free_technician(store: Store, start: datetime, end: datetime, *, moving: int | None = None,
                     prefer: int | None = None, skill: str = "") -> int:
    """A technician for the window: `prefer` (the visit's own, when it is moved) if they still work at the store,
    are active and are free then (the store's travel buffer kept), else the first such technician; their rows
    stay locked until the caller commits. `moving`: the visit being moved, which does not keep its technician
    busy. `skill`: only technicians with it. Conflict when nobody is free."""
    tech_ids = _store_technician_ids(store, skill)
    _lock_technicians(tech_ids)
    busy = technicians_busy(tech_ids, start, end, exclude_pk=moving, buffer=travel_buffer(store))
    free = [t for t in tech_ids if t not in busy]
    if not free:
        raise Conflict(_("That window has just been taken; pick another."), code="slot_taken")
    return prefer if prefer in free else free[0]


@transaction.atomic
def appointment_book(*, stage: StageInstance, window_start: datetime, actor) -> Appointment:
    """Book an on-site visit for the current stage, with a free technician of the store."""
    order = engine.lock_order(stage.order_id)
    stage = StageInstance.objects.select_related("definition", "order__store", "order__template_version").get(
        pk=stage.pk
    )
    if stage.order_id != order.pk or order.current_stage_id != stage.pk or stage.state != StageInstance.State.READY:
        allowed = engine.allowed_triggers(order, actor=actor)
        if order.current_stage_id == stage.pk and stage.state == StageInstance.State.WAITING_PAYMENT:
            raise InvalidTransition(_("Pay this stage's installment first: a visit can be booked once it is paid."),
                                    allowed=allowed)
        raise InvalidTransition(_("This stage cannot be booked now."), allowed=allowed)
    window_end = _validate_window(stage, window_start)
    capacity_claim(store=order.store, skill=required_skill(stage), window_start=window_start)
    technician_id = _free_technician(order.store, window_start, window_end, skill=required_skill(stage))
    engine.fire_locked(
        order,
        trigger="book",
        actor=actor,
        stage_id=stage.pk,
        payload={"window_start": window_start.isoformat(), "window_end": window_end.isoformat(),
                 "technician": technician_id},
    )
    return Appointment.objects.create(
        order=order,
        stage=stage,
        store=order.store,
        technician_id=technician_id,
        window_start=window_start,
        window_end=window_end,
        booked_by=actor,
    )


@transaction.atomic
def appointment_reschedule(*, appointment: Appointment, window_start: datetime, actor) -> Appointment:
    """Move a booked visit to another window, or rebook a visit nobody came to (a no-show).

    A moved visit is cancelled and the new one counts one more move (a consumer may make
    APPOINTMENT_MAX_RESCHEDULES). A no-show stays as it is, the record of the missed visit: the new visit is
    booked beside it like a fresh booking (the first free technician, no move counted, no limit), once: while
    the stage has another visit (booked, on site or done), the no-show cannot be rebooked again."""
    order = engine.lock_order(appointment.order_id)
    appointment = Appointment.objects.select_related("stage__definition", "stage__order__store").get(pk=appointment.pk)
    missed = appointment.state == Appointment.State.NO_SHOW
    if missed:
        if Appointment.objects.filter(stage_id=appointment.stage_id).exclude(pk=appointment.pk).exclude(
            state__in=(Appointment.State.CANCELLED, Appointment.State.NO_SHOW)
        ).exists():
            raise InvalidTransition(_("This missed visit has been rebooked already: move the new visit."), allowed=[])
    elif appointment.state != Appointment.State.BOOKED:
        raise InvalidTransition(_("Only a booked visit, or one nobody came to, can be moved."), allowed=[])
    limit = settings.APPOINTMENT_MAX_RESCHEDULES
    if not missed and actor is not None and not policy.may(actor, "reschedule.beyond_limit") \
            and appointment.reschedule_count >= limit:
        raise Conflict(
            f"This visit has already been moved {appointment.reschedule_count} times, the most a consumer may "
            f"move it ({limit}); contact the store to move it again.",
            code="reschedule_limit",
        )
    stage = appointment.stage
    window_end = _validate_window(stage, window_start)
    # A moved visit gives its place back (moving within its day counts once); a missed one keeps its place.
    capacity_claim(store=order.store, skill=required_skill(stage), window_start=window_start,
                   moving=None if missed else appointment.pk)
    technician_id = _free_technician(order.store, window_start, window_end, moving=appointment.pk,
                                     prefer=None if missed else appointment.technician_id,
                                     skill=required_skill(stage))
    engine.fire_locked(
        order,
        trigger="reschedule",
        actor=actor,
        stage_id=stage.pk,
        payload={"from": appointment.window_start.isoformat(), "to": window_start.isoformat(),
                 "window_end": window_end.isoformat(), "technician": technician_id,
                 "previous": appointment.technician_id, "appointment": appointment.pk, "missed": missed},
    )
    if not missed:
        appointment.mark_cancelled()
        appointment.save()
    return Appointment.objects.create(
        order=order,
        stage=stage,
        store=order.store,
        technician_id=technician_id,
        window_start=window_start,
        window_end=window_end,
        booked_by=actor,
        reschedule_count=appointment.reschedule_count + (0 if missed else 1),
    )


@transaction.atomic
def appointment_assign(*, appointment: Appointment, technician: User, actor) -> Appointment:
    """Give the visit to an active technician of its store who is free for the window."""
    order = engine.lock_order(appointment.order_id)
    appointment = Appointment.objects.select_for_update().select_related("stage__definition").get(pk=appointment.pk)
    if not appointment.is_active:
        raise InvalidTransition(_("This visit is no longer active."), allowed=[])
    if technician.role != Role.TECHNICIAN or not technician.stores.filter(pk=appointment.store_id).exists():
        raise DomainError(
            "That technician does not work for this store.",
            code="invalid",
            errors={"technician": ["Not a technician of this store."]},
        )
    if not technician.is_active:
        # A deactivated account cannot log in: the visit would never be checked in.
        raise DomainError(
            "That technician's account is deactivated.",
            code="invalid",
            errors={"technician": ["This technician's account is deactivated."]},
        )
    skill = required_skill(appointment.stage)
    if skill and skill not in (technician.skills or []):
        raise DomainError(
            f"This visit needs the skill '{skill}', which that technician does not have.",
            code="missing_skill", skill=skill,
            errors={"technician": [f"Lacks the skill '{skill}' this visit needs."]},
        )
    if appointment.state != Appointment.State.BOOKED:
        raise InvalidTransition(_("The technician has already checked in."), allowed=[])
    _lock_technicians(sorted({technician.pk, appointment.technician_id or technician.pk}))
    if technicians_busy([technician.pk], appointment.window_start, appointment.window_end, exclude_pk=appointment.pk,
                        buffer=travel_buffer(order.store)):
        raise Conflict(_("That technician has another visit in this window, or too close to it to travel between."),
                       code="technician_busy")
    previous = appointment.technician_id
    appointment.technician = technician
    appointment.save(update_fields=["technician"])
    record_event(
        order=order,
        kind=APPOINTMENT_ASSIGNED,
        actor=actor,
        stage=appointment.stage,
        payload={"appointment": appointment.pk, "technician": technician.pk, "previous": previous,
                 "window_start": appointment.window_start.isoformat(),
                 "window_end": appointment.window_end.isoformat()},
    )
    return appointment



def appointment_mark_no_show(*, appointment: Appointment, actor=None) -> Appointment:
    """Mark a booked visit nobody came to as a no-show (the SLA monitor does). Idempotent: a visit already marked,
    or no longer booked (checked in, cancelled), is left as it is and nothing is recorded."""
    with transaction.atomic():
        order = engine.lock_order(appointment.order_id)
        appointment = Appointment.objects.select_for_update(of=("self",)).get(pk=appointment.pk)
        if appointment.state != Appointment.State.BOOKED:
            return appointment
        appointment.mark_no_show()
        appointment.save()
        record_event(order=order, kind=APPOINTMENT_NO_SHOW, actor=actor, stage_id=appointment.stage_id, payload={
            "appointment": appointment.pk, "technician": appointment.technician_id,
            "window_start": appointment.window_start.isoformat(), "window_end": appointment.window_end.isoformat(),
        })
        return appointment
