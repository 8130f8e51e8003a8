"""Write operations of the notifications app: the outbox, its delivery, reminders, tracking links.

Shape of a message's life:
1. An OrderEvent is recorded (inside its transaction); `on_order_event` (registered as the engine's
   event listener) writes the Notification rows it calls for, in that same transaction, and asks for
   delivery with `transaction.on_commit`.
2. `notification_deliver` (run by the Celery task) claims the row with a conditional UPDATE
   pending -> sending, so only one run ever sends it; it then sends through the channel and records
   the outcome (sent; pending again with a retry time; failed).
3. `notifications_relay` (periodic) re-queues rows left pending (the enqueue failed because the
   broker was down, or a retry was lost) and closes rows whose worker died mid-send.
"""

from __future__ import annotations

import logging
import smtplib
import zlib
from datetime import datetime, timedelta
from email.utils import parseaddr

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.core.mail.utils import DNS_NAME
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from notifications import messages
from notifications.conf import setting
from notifications.models import Notification, NotificationPreference
from notifications.sms import SMSDeliveryError, SMSRejected, get_sms_backend
from tenancy.models import User
from workflows.models import Appointment, OrderEvent, ServiceOrder, StageInstance

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


class DeliveryError(Exception):
    """A delivery attempt failed in a way a later attempt may fix; the task retries with backoff."""


# --- tracking links ------------------------------------------------------------------------------


def _tracking_signer() -> signing.Signer:
    # Without a maximum age the link is the same every time it is made (one link per order and
    # version, revoked by bumping the version); with one, it carries its issue time.
    salt = setting("TRACKING_TOKEN_SALT")
    return signing.TimestampSigner(salt=salt) if setting("TRACKING_TOKEN_MAX_AGE_DAYS") else signing.Signer(salt=salt)


def tracking_token(order: ServiceOrder) -> str:
    """A signed, unguessable token naming the order and its link version."""
    return _tracking_signer().sign_object([order.pk, order.tracking_token_version])


def tracking_url(order: ServiceOrder) -> str:
    """The order's tracking page link (absolute when settings.SITE_URL is set). No query."""
    path = reverse("tracking-page", kwargs={"token": tracking_token(order)})
    return f"{(getattr(settings, 'SITE_URL', '') or '').rstrip('/')}{path}"


def tracking_order_id(token: str) -> tuple[int, int] | None:
    """(order id, link version) from a token, or None for a forged, damaged or expired one."""
    max_age_days = setting("TRACKING_TOKEN_MAX_AGE_DAYS")
    signer = _tracking_signer()
    try:
        if max_age_days:
            data = signer.unsign_object(token, max_age=timedelta(days=max_age_days))
        else:
            data = signer.unsign_object(token)
    except (signing.BadSignature, ValueError, zlib.error):  # SignatureExpired is a BadSignature
        return None
    if (not isinstance(data, list) or len(data) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in data)):
        return None
    return data[0], data[1]


def tracking_order_for_token(token: str, queryset=None) -> ServiceOrder | None:
    """The order a (current, unrevoked) token opens, or None."""
    parsed = tracking_order_id(token)
    if parsed is None:
        return None
    order_id, version = parsed
    qs = queryset if queryset is not None else ServiceOrder.objects.all()
    return qs.filter(pk=order_id, tracking_token_version=version).first()


@transaction.atomic
def tracking_link_revoke(*, order: ServiceOrder, actor=None) -> ServiceOrder:
    """Invalidate every tracking link handed out so far (a new one can be made at once)."""
    from notifications import events
    from workflows import engine

    locked = engine.lock_order(order.pk)
    ServiceOrder.objects.filter(pk=locked.pk).update(tracking_token_version=F("tracking_token_version") + 1)
    locked.refresh_from_db(fields=["tracking_token_version"])
    events.tracking_link_revoked(order=locked, actor=actor, version=locked.tracking_token_version)
    order.tracking_token_version = locked.tracking_token_version
    return locked


# --- creating notifications ----------------------------------------------------------------------


def _store_managers(order: ServiceOrder) -> list[User]:
    return list(User.objects.filter(role=User.Role.STORE_MANAGER, is_active=True, stores=order.store_id)
                .order_by("pk").distinct())


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


def _channels(user: User, *, staff: bool) -> list[tuple[str, str]]:
    """(channel, address) pairs the person can be reached on. Staff hear by email only."""
    out = []
    if user.email:
        out.append((Channel.EMAIL, user.email))
    if user.phone and not staff:
        out.append((Channel.SMS, user.phone))
    return out


def _build_rows(*, order: ServiceOrder, recipient: User, staff: bool, kind: str, rendered: messages.Rendered,
                prefs: dict[int, NotificationPreference], now: datetime, event: OrderEvent | None = None,
                appointment: Appointment | None = None) -> list[Notification]:
    pref = prefs.get(recipient.pk)
    rows = []
    for channel, address in _channels(recipient, staff=staff):
        row = Notification(
            order=order, event=event, appointment=appointment, recipient=recipient, channel=channel, kind=kind,
            to_address=address, subject=rendered.subject[:200], body=rendered.body, created_at=now,
            deliver_after=now,
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
        order_number=order.number, store_name=order.store.name, tz=order.store.tzinfo,
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


def _preferences(order: ServiceOrder, people: dict[int, User]) -> dict[int, NotificationPreference]:
    """The preferences of these people. The consumer's come with the engine's lock of the order
    (registered in NotificationsConfig.ready), so a message to the consumer alone reads nothing more."""
    relation = User._meta.get_field("notification_preference")
    if set(people) == {order.consumer_id} and relation.is_cached(order.consumer):
        pref = getattr(order.consumer, "notification_preference", None)
        return {order.consumer_id: pref} if pref is not None else {}
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
    ctx = _context(order, stage, payload, technician_name=technician_name)
    managers = _store_managers(order) if any(p.audience == messages.STORE for p in planned) else []
    people = {order.consumer_id: order.consumer, **{m.pk: m for m in managers}}
    prefs = _preferences(order, people)
    now = timezone.now()
    rows: list[Notification] = []
    for p in planned:
        rendered = messages.render(p.kind, ctx)
        recipients = [order.consumer] if p.audience == messages.CONSUMER else managers
        for person in recipients:
            rows += _build_rows(order=order, recipient=person, staff=p.audience == messages.STORE, kind=p.kind,
                                rendered=rendered, prefs=prefs, now=now, event=event)
    # One row per (event, recipient, channel): a person who is both consumer and manager hears once.
    unique: dict[tuple, Notification] = {}
    for row in rows:
        unique.setdefault((row.recipient_id, row.channel), row)
    rows = Notification.objects.bulk_create(list(unique.values()))
    _enqueue_on_commit(rows)
    return rows


# --- reminders -----------------------------------------------------------------------------------


def visit_reminders_create(*, now: datetime | None = None) -> int:
    """Make the 24-hour reminder of every booked visit that is now within the lead time, once.

    A visit booked less than the lead time ahead gets no reminder: its booking message was just sent.
    The unique constraint (appointment, kind, recipient, channel) keeps concurrent runs from doubling.
    """
    now = now or timezone.now()
    lead = timedelta(hours=setting("NOTIFICATION_REMINDER_LEAD_HOURS"))
    candidates = (
        Appointment.objects.filter(state=Appointment.State.BOOKED, window_start__gt=now,
                                   window_start__lte=now + lead)
        .exclude(notifications__kind="appointment.reminder")
        .select_related("order__store", "order__consumer", "stage__definition")
        .order_by("window_start", "pk")
    )
    made = 0
    for appt in candidates:
        if appt.created_at > appt.window_start - lead:
            continue
        order = appt.order
        ctx = _context(order, appt.stage, {"window_start": appt.window_start.isoformat()})
        rendered = messages.render("appointment.reminder", ctx)
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


# --- delivery ------------------------------------------------------------------------------------


def retry_backoff_seconds(attempt: int) -> int:
    """Seconds to wait after failed attempt number `attempt` (1-based): 30, 60, 120, ... capped.
    The task's Celery backoff (retry_backoff, no jitter) gives the same numbers."""
    return min(setting("NOTIFICATION_RETRY_BACKOFF_MAX_SECONDS"),
               setting("NOTIFICATION_RETRY_BACKOFF_SECONDS") * 2 ** max(attempt - 1, 0))


def delivery_reference(n: Notification) -> str:
    """The same text for every attempt at one notification: the SMS provider's client reference and the
    email's Message-ID local part. A message sent twice (a worker killed after the channel accepted it,
    before the outcome was written) then carries the same reference, which a provider that deduplicates on
    it, or a mailbox that deduplicates on Message-ID, drops."""
    return f"ntf-{n.pk}-{int(n.created_at.timestamp())}"


def _message_id(n: Notification) -> str:
    _, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    domain = address.rpartition("@")[2] or DNS_NAME.get_fqdn()
    return f"<{delivery_reference(n)}@{domain}>"


def _send(n: Notification) -> str:
    """Hand the message to its channel. Returns a provider reference.
    Raises DeliveryError (retry) or SMSRejected / smtplib.SMTPRecipientsRefused (no retry)."""
    if n.channel == Channel.EMAIL:
        try:
            EmailMessage(n.subject, n.body, settings.DEFAULT_FROM_EMAIL, [n.to_address],
                         headers={"Message-ID": _message_id(n)}).send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"email: {exc.__class__.__name__}: {exc}") from exc
        return "email"
    if n.channel == Channel.SMS:
        try:
            return get_sms_backend().send(n.to_address, n.body, reference=delivery_reference(n)) or "sms"
        except SMSDeliveryError as exc:
            raise DeliveryError(f"sms: {exc}") from exc
    raise SMSRejected(f"unknown channel {n.channel!r}")


def notification_deliver(*, notification_id: int, claim_token: str = "") -> str:
    """Send one notification once. Returns what happened: sent, failed, or not_claimed
    (already sent, being sent by another run, skipped, not due yet, or gone).

    `claim_token` names the delivery run (the task passes "<task id>:<retry>"). A run whose worker was
    killed after the claim leaves the row "sending"; the broker redelivers the same run, which
    resumes the row because it holds the same token. (A kill after the channel accepted the message
    but before the outcome was written can therefore send it twice: that window is the channel call.)

    Raises DeliveryError when the attempt failed and another is allowed (the row is pending again,
    with next_attempt_at set); the task retries on it."""
    now = timezone.now()
    claimable = Q(state=State.PENDING, deliver_after__lte=now)
    if claim_token:
        claimable |= Q(state=State.SENDING, claimed_by=claim_token)
    claimed = Notification.objects.filter(claimable, pk=notification_id).update(
        state=State.SENDING, attempts=F("attempts") + 1, claimed_at=now, claimed_by=claim_token[:64],
        next_attempt_at=None,
    )
    if not claimed:
        logger.debug("notification %s: not claimed (not pending, not due, or already taken)", notification_id)
        return "not_claimed"
    n = Notification.objects.get(pk=notification_id)
    try:
        ref = _send(n)
    except DeliveryError as exc:
        if n.attempts >= setting("NOTIFICATION_MAX_ATTEMPTS"):
            _finish(n, State.FAILED, error=f"gave up after {n.attempts} attempts: {exc}")
            logger.error("notification %s: failed after %s attempts: %s", n.pk, n.attempts, exc)
            return "failed"
        Notification.objects.filter(pk=n.pk, state=State.SENDING).update(
            state=State.PENDING, last_error=str(exc)[:2000],
            next_attempt_at=timezone.now() + timedelta(seconds=retry_backoff_seconds(n.attempts)),
        )
        logger.warning("notification %s: attempt %s failed, will retry: %s", n.pk, n.attempts, exc)
        raise
    except (SMSRejected, smtplib.SMTPRecipientsRefused) as exc:
        _finish(n, State.FAILED, error=f"rejected: {exc}")
        logger.error("notification %s: rejected by the channel: %s", n.pk, exc)
        return "failed"
    _finish(n, State.SENT, ref=ref)
    return "sent"


def _finish(n: Notification, state: str, *, error: str = "", ref: str = "") -> None:
    Notification.objects.filter(pk=n.pk, state=State.SENDING).update(
        state=state, last_error=error[:2000], provider_ref=ref[:120],
        sent_at=timezone.now() if state == State.SENT else None,
    )


def notifications_relay(*, now: datetime | None = None) -> int:
    """The outbox relay: queue pending rows nobody is taking care of; close rows lost mid-send.

    Returns how many rows were queued."""
    now = now or timezone.now()
    lost = Notification.objects.filter(
        state=State.SENDING, claimed_at__lt=now - timedelta(seconds=setting("NOTIFICATION_SENDING_TIMEOUT_SECONDS"))
    ).update(state=State.FAILED, last_error="outcome unknown: the delivery worker stopped mid-send; not resent")
    if lost:
        logger.error("notification relay: %s rows lost mid-send marked failed", lost)
    cutoff = now - timedelta(seconds=setting("NOTIFICATION_RELAY_AFTER_SECONDS"))
    ids = list(
        Notification.objects.filter(state=State.PENDING, deliver_after__lte=now, created_at__lte=cutoff)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=cutoff))
        .order_by("pk").values_list("pk", flat=True)[: setting("NOTIFICATION_RELAY_BATCH_SIZE")]
    )
    if ids:
        logger.info("notification relay: re-queueing %s pending rows", len(ids))
    return notifications_enqueue(ids)


@transaction.atomic
def notification_retry(*, notification: Notification) -> bool:
    """Staff: send a failed notification again (a new attempt budget). Returns whether it was requeued."""
    updated = Notification.objects.filter(pk=notification.pk, state=State.FAILED).update(
        state=State.PENDING, attempts=0, next_attempt_at=None, deliver_after=timezone.now(), last_error="",
    )
    if updated:
        transaction.on_commit(lambda: notifications_enqueue([notification.pk]), robust=True)
    return bool(updated)


@transaction.atomic
def notification_preference_set(*, user: User, **fields) -> NotificationPreference:
    allowed = {"email", "sms", "quiet_hours_start", "quiet_hours_end"}
    pref, _ = NotificationPreference.objects.select_for_update().get_or_create(user=user)
    for key, value in fields.items():
        if key in allowed:
            setattr(pref, key, value)
    pref.save()
    return pref
