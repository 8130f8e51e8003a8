"""Writing the outbox: the messages each order event calls for (the engine's event listener, in the event's own
transaction), visit reminders, and queueing their delivery after the commit."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from core.language import recipient_language
from notifications import messages
from notifications.conf import setting
from notifications.models import Notification, NotificationPreference
from notifications.services.links import tracking_url
from tenancy.models import User
from workflows.models import Appointment, OrderEvent, ServiceOrder, StageInstance, TemplateDistribution
from workflows.store_values import store_values_for

logger = logging.getLogger("notifications")
State = Notification.State
Channel = Notification.Channel

# Enqueueing can fail when the broker is unreachable; the row then stays pending for the relay.
ENQUEUE_ERRORS: tuple[type[BaseException], ...] = (KombuOperationalError, OSError)
try:  # redis-py's errors are not OSErrors
    from redis.exceptions import RedisError

    ENQUEUE_ERRORS = (*ENQUEUE_ERRORS, RedisError)
except ImportError:  # pragma: no cover
    pass



def _store_managers(order: ServiceOrder) -> list[User]:
    return list(User.objects.filter(role=User.Role.STORE_MANAGER, is_active=True, stores=order.store_id)
                .order_by("pk").distinct())


def _staff_audience(audience: str, order: ServiceOrder) -> list[User]:
    """The people of a staff audience (messages.STAFF_AUDIENCES): the order's store's managers, its brand's admins
    (never another brand's), the platform's operators (superusers count as operators, as in tenancy.policy)."""
    if audience == messages.STORE:
        return _store_managers(order)
    if audience == messages.BRAND:
        return list(User.objects.filter(role=User.Role.MERCHANT_ADMIN, is_active=True, merchant_id=order.merchant_id)
                    .order_by("pk"))
    return list(User.objects.filter(Q(role=User.Role.PLATFORM_OPERATOR) | Q(is_superuser=True), is_active=True,
                                    merchant__isnull=True).order_by("pk"))


def _quiet_until(pref: NotificationPreference | None, now: datetime, tz) -> datetime | None:
    """When `now` falls in the person's quiet hours: the moment they end; otherwise None."""
    if pref is None or not pref.has_quiet_hours:
        return None
    local = now.astimezone(tz)
    start, end, t = pref.quiet_hours_start, pref.quiet_hours_end, local.time()
    if start < end:
        inside = start <= t < end
        end_day = local.date()
    else:  # spans midnight, e.g. 22:00-08:00
        inside = t >= start or t < end
        end_day = local.date() + timedelta(days=1) if t >= start else local.date()
    if not inside:
        return None
    return datetime.combine(end_day, end, tzinfo=tz)


def _channels(user: User, *, staff: bool, technician: bool = False) -> list[tuple[str, str]]:
    """(channel, address) pairs the person can be reached on. Staff hear by email only; a technician about their
    jobs by SMS (on the phone they work from), by email only when they have no phone number."""
    if technician:
        return [(Channel.SMS, user.phone)] if user.phone else [(Channel.EMAIL, user.email)] if user.email else []
    out = []
    if user.email:
        out.append((Channel.EMAIL, user.email))
    if user.phone and not staff:
        out.append((Channel.SMS, user.phone))
    return out


def _build_rows(*, order: ServiceOrder, recipient: User, staff: bool, kind: str, rendered: messages.Rendered,
                prefs: dict[int, NotificationPreference], now: datetime, event: OrderEvent | None = None,
                appointment: Appointment | None = None, technician: bool = False) -> list[Notification]:
    pref = prefs.get(recipient.pk)
    rows = []
    for channel, address in _channels(recipient, staff=staff, technician=technician):
        row = Notification(
            order=order, event=event, appointment=appointment, recipient=recipient, channel=channel, kind=kind,
            to_address=address, subject=rendered.subject[:200], body=rendered.body, created_at=now,
            deliver_after=now, params=rendered.params or {},  # SMS templates' variables; the e-mail's link
        )
        if pref is not None and not pref.allows(channel):
            row.state = State.SKIPPED
            row.last_error = f"{channel} turned off by the recipient"
        elif channel == Channel.SMS:
            quiet_end = _quiet_until(pref, now, order.store.tzinfo)
            if quiet_end is not None:
                row.deliver_after = quiet_end
        rows.append(row)
    return rows


def _enqueue_on_commit(rows: list[Notification]) -> None:
    now = timezone.now()
    ids = [r.pk for r in rows if r.state == State.PENDING and r.deliver_after <= now]
    if ids:
        transaction.on_commit(lambda: notifications_dispatch(ids), robust=True)


def notifications_dispatch(ids: list[int]) -> None:
    """Queue one transaction's notifications. Several go as one message that a worker fans out
    (`tasks.dispatch_notifications`), so the request pays for one publish, not one per message."""
    if len(ids) == 1:
        notifications_enqueue(ids)
        return
    from notifications.tasks import dispatch_notifications

    try:
        dispatch_notifications.delay(ids)
    except ENQUEUE_ERRORS as exc:
        logger.warning("notifications %s: could not queue delivery (%s); the relay will retry", ids, exc)


def notifications_enqueue(ids: list[int]) -> int:
    """Queue delivery of these notifications. A broker that is down leaves them pending for the relay."""
    from notifications.tasks import deliver_notification

    queued = 0
    for pk in ids:
        try:
            deliver_notification.delay(pk)
            queued += 1
        except ENQUEUE_ERRORS as exc:
            # Do not wait on a down broker once per row: the rest stay pending for the relay too.
            logger.warning("notifications %s: could not queue delivery (%s); the relay will retry",
                           ids[queued:], exc)
            break
    return queued


def _context(order: ServiceOrder, stage: StageInstance | None, payload: dict, **extra) -> messages.Context:
    return messages.Context(
        order_number=order.number, store_name=order.store.name, tz=order.store.tzinfo, address=order.service_address,
        stage_name=stage.definition.name if stage is not None else "", tracking_url=tracking_url(order),
        payload=payload, currency=order.currency,
        needs_booking=bool(stage is not None and stage.definition.requires_appointment), **extra,
    )


def _is_loaded(instance, relation: str) -> bool:
    return type(instance)._meta.get_field(relation).is_cached(instance)


def _event_order(event: OrderEvent) -> ServiceOrder:
    """The event's order with its store and consumer: the recording caller's (locked) instance when it
    has them loaded (the engine's lock does), so a message costs no extra read."""
    if _is_loaded(event, "order"):
        order = event.order
        if _is_loaded(order, "store") and _is_loaded(order, "consumer"):
            return order
    return ServiceOrder.objects.select_related("store", "consumer").get(pk=event.order_id)


def _loaded_stage(order: ServiceOrder, code: str) -> StageInstance | None:
    """Stage `code` with its definition if the engine already loaded it for this transition (its stages,
    or the current stage its lock brings along); None otherwise."""
    stages = getattr(order, "_engine_stages", None) or {}
    if code in stages:
        return stages[code]
    current = order.current_stage if _is_loaded(order, "current_stage") else None
    if current is not None and _is_loaded(current, "definition") and current.definition.code == code:
        return current
    return None


def _listed_stage_names(order: ServiceOrder, payload: dict) -> dict[int, str] | None:
    """The names of the stages a payload's list of installments names (several due at once): from the stages the
    engine loaded for this step, else one read."""
    items = payload.get("installments")
    if not isinstance(items, list) or len(items) < 2:
        return None
    ids = {i.get("stage") for i in items if isinstance(i, dict)}
    loaded = {s.pk: s for s in (getattr(order, "_engine_stages", None) or {}).values()}
    if ids <= set(loaded):
        return {pk: loaded[pk].definition.name for pk in ids}
    return dict(StageInstance.objects.filter(order=order, pk__in=ids).values_list("pk", "definition__name"))


def _technicians(order: ServiceOrder, ids: set[int]) -> dict[int, User]:
    """The technicians an event names, when they are still active technicians of the order's store."""
    if not ids:
        return {}
    return {u.pk: u for u in User.objects.filter(pk__in=ids, role=User.Role.TECHNICIAN, is_active=True,
                                                 stores=order.store_id)
            .select_related("notification_preference").distinct()}


def _preferences(order: ServiceOrder, people: dict[int, User]) -> dict[int, NotificationPreference]:
    """The preferences of these people. The consumer's come with the engine's lock of the order
    (registered in NotificationsConfig.ready), and the technicians' with their own read (`_technicians`), so a
    message to the consumer and technicians reads nothing more."""
    relation = User._meta.get_field("notification_preference")
    if all(relation.is_cached(person) for person in people.values()):  # the consumer's, technicians' (loaded)
        prefs = {pk: getattr(person, "notification_preference", None) for pk, person in people.items()}
        return {pk: pref for pk, pref in prefs.items() if pref is not None}
    return {p.user_id: p for p in NotificationPreference.objects.filter(user_id__in=list(people))}


def on_order_event(event: OrderEvent) -> list[Notification]:
    """The engine's event listener: write the messages an event calls for, in its transaction."""
    planned = messages.plan(event)
    if not planned:
        return []
    order = _event_order(event)
    if any(p.kind == "stage.ready" for p in planned):
        code = (event.to_state or "").partition(":")[0]
        stage = _loaded_stage(order, code) or (
            StageInstance.objects.select_related("definition").filter(order=order, definition__code=code).first()
        )
    elif event.stage_id:
        stage = event.stage if _is_loaded(event, "stage") and _is_loaded(event.stage, "definition") else (
            StageInstance.objects.select_related("definition").filter(pk=event.stage_id).first()
        )
    else:
        stage = None
    technician_name = ""
    if event.kind == "job.checked_in":
        tech_id = event.payload.get("technician") if isinstance(event.payload.get("technician"), int) else None
        tech_id = tech_id or (event.actor_id if event.actor_role == User.Role.TECHNICIAN else None)
        if tech_id and tech_id == event.actor_id and _is_loaded(event, "actor"):
            tech = event.actor  # the technician checking in, as the caller passed them
        else:
            tech = User.objects.filter(pk=tech_id).first() if tech_id else None
        technician_name = tech.first_name or tech.display_name if tech else ""
    payload = {**(event.payload or {}), "_event_kind": event.kind}
    ctx = _context(order, stage, payload, technician_name=technician_name,
                   stage_names=_listed_stage_names(order, payload))
    staff = {a: _staff_audience(a, order) for a in {p.audience for p in planned} if a in messages.STAFF_AUDIENCES}
    technicians = _technicians(order, {t for p in planned for t in p.technicians})
    people = {order.consumer_id: order.consumer, **{m.pk: m for ms in staff.values() for m in ms}, **technicians}
    prefs = _preferences(order, people)
    now = timezone.now()
    rows: list[Notification] = []
    for p in planned:
        if p.audience in messages.TECHNICIAN_AUDIENCES:  # each their own visit's window, in their language
            for person in (technicians[t] for t in p.technicians if t in technicians):
                # never the consumer's tracking link, not even among the SMS's variables (`params`)
                own = replace(_context(order, stage, messages.technician_payload(p.audience, payload, person.pk)),
                              tracking_url="")
                rows += _build_rows(order=order, recipient=person, staff=False, technician=True, kind=p.kind,
                                    rendered=messages.render(p.kind, own, recipient_language(person)), prefs=prefs,
                                    now=now, event=event)
            continue
        recipients = [order.consumer] if p.audience == messages.CONSUMER else staff[p.audience]
        # The brand's and the platform's people never get the consumer's tracking link (it shows the vouchers).
        own = replace(ctx, tracking_url="") if p.audience in (messages.BRAND, messages.PLATFORM) else ctx
        in_language: dict[str, messages.Rendered] = {}  # each language rendered once
        for person in recipients:
            language = recipient_language(person)
            if language not in in_language:
                in_language[language] = messages.render(p.kind, own, language)
            rows += _build_rows(order=order, recipient=person, staff=p.audience in messages.STAFF_AUDIENCES,
                                kind=p.kind, rendered=in_language[language], prefs=prefs, now=now, event=event)
    # One row per (event, recipient, channel): a person who is both consumer and manager hears once.
    unique: dict[tuple, Notification] = {}
    for row in rows:
        unique.setdefault((row.recipient_id, row.channel), row)
    rows = Notification.objects.bulk_create(list(unique.values()))
    _enqueue_on_commit(rows)
    return rows


def visit_reminders_create(*, now: datetime | None = None) -> int:
    """Make the reminder of every booked visit that is now within its lead time (24 hours, or its store's), once.

    A visit booked less than the lead time ahead gets no reminder: its booking message was just sent.
    The unique constraint (appointment, kind, recipient, channel) keeps concurrent runs from doubling.
    """
    now = now or timezone.now()
    default_lead = setting("NOTIFICATION_REMINDER_LEAD_HOURS")
    # A store may set its own lead within its brand's bounds (workflows.store_values): look as far ahead as the
    # longest any store set, then judge each visit by its store's lead.
    longest = TemplateDistribution.objects.aggregate(most=Max("reminder_lead_hours"))["most"] or 0
    candidates = (
        Appointment.objects.filter(state=Appointment.State.BOOKED, window_start__gt=now,
                                   window_start__lte=now + timedelta(hours=max(default_lead, longest)))
        .exclude(notifications__kind="appointment.reminder")
        .select_related("order__store", "order__consumer", "order__template_version", "stage__definition")
        .order_by("window_start", "pk")
    )
    made = 0
    leads: dict[tuple[int, int], timedelta] = {}
    for appt in candidates:
        key = (appt.order.template_version.template_id, appt.order.store_id)
        if key not in leads:
            own = store_values_for(template_id=key[0], store_id=key[1]).reminder_lead_hours
            leads[key] = timedelta(hours=own or default_lead)
        lead = leads[key]
        if appt.window_start > now + lead or appt.created_at > appt.window_start - lead:
            continue
        order = appt.order
        ctx = _context(order, appt.stage, {"window_start": appt.window_start.isoformat()})
        rendered = messages.render("appointment.reminder", ctx, recipient_language(order.consumer))
        prefs = {p.user_id: p for p in NotificationPreference.objects.filter(user_id=order.consumer_id)}
        rows = _build_rows(order=order, recipient=order.consumer, staff=False, kind="appointment.reminder",
                           rendered=rendered, prefs=prefs, now=now, appointment=appt)
        try:
            with transaction.atomic():
                rows = Notification.objects.bulk_create(rows)
                _enqueue_on_commit(rows)
        except IntegrityError:
            continue  # another run made them first
        made += len(rows)
    return made


@transaction.atomic
def notification_preference_set(*, user: User, **fields) -> NotificationPreference:
    allowed = {"email", "sms", "quiet_hours_start", "quiet_hours_end"}
    pref, _ = NotificationPreference.objects.select_for_update().get_or_create(user=user)
    for key, value in fields.items():
        if key in allowed:
            setattr(pref, key, value)
    pref.save()
    return pref
