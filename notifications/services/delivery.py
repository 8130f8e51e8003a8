"""Delivering the outbox: each row claimed once, sent through its channel, its outcome recorded; the relay
re-queues what an outage left pending."""

from __future__ import annotations

import logging
import smtplib
from datetime import datetime, timedelta
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.utils import DNS_NAME
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import escape, format_html, linebreaks
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from core.language import override, recipient_language
from notifications.conf import setting
from notifications.events import notification_undeliverable
from notifications.models import Notification
from notifications.services.outbox import notifications_enqueue
from notifications.sms import SMSDeliveryError, SMSRejected, get_sms_backend
from workflows.models import ServiceOrder

logger = logging.getLogger("notifications")
State = Notification.State
Channel = Notification.Channel




class DeliveryError(Exception):
    """A delivery attempt failed in a way a later attempt may fix; the task retries with backoff."""


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


def email_html(n: Notification) -> str:
    """The e-mail's HTML part: the message's own subject and text (already in the recipient's language) in a
    phone-friendly layout, its links clickable; the layout's words in the recipient's language too."""
    with override(recipient_language(n.recipient)):
        return render_to_string("notifications/email.html", {
            "language": get_language(), "subject": n.subject, "body": _body_html(n), "order_number": n.order.number})


def _body_html(n: Notification) -> str:
    """The text as paragraphs, escaped; the message's own link (its `link` variable) made an anchor. Chinese text
    runs into the link without a space ("订单进度：https://..."), which urlize cannot split, so the link is
    found by its known value, not guessed."""
    link = (n.params or {}).get("link", "")
    text = escape(n.body)
    if link:
        text = text.replace(escape(link), format_html('<a href="{}">{}</a>', link, link))
    return mark_safe(linebreaks(text))  # noqa: S308 - every part above is escaped


def _send(n: Notification) -> str:
    """Hand the message to its channel. Returns a provider reference.
    Raises DeliveryError (retry) or SMSRejected / smtplib.SMTPRecipientsRefused (no retry)."""
    if n.channel == Channel.EMAIL:
        try:
            email = EmailMultiAlternatives(n.subject, n.body, settings.DEFAULT_FROM_EMAIL, [n.to_address],
                                           headers={"Message-ID": _message_id(n)})
            email.attach_alternative(email_html(n), "text/html")
            email.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"email: {exc.__class__.__name__}: {exc}") from exc
        return "email"
    if n.channel == Channel.SMS:
        try:
            return get_sms_backend().send(n.to_address, n.body, reference=delivery_reference(n), kind=n.kind,
                                          params=n.params) or "sms"
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
    n = Notification.objects.select_related("recipient", "order").get(pk=notification_id)
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
        _reject(n, exc)
        logger.error("notification %s: rejected by the channel: %s", n.pk, exc)
        return "failed"
    _finish(n, State.SENT, ref=ref)
    return "sent"


@transaction.atomic
def _reject(n: Notification, exc: Exception) -> None:
    """Failed for good, with the reason. A refused SMS also tells the store (an event its managers hear of by
    e-mail, notifications.messages.ROUTES); staff get no SMS, so that message cannot be refused the same way."""
    ServiceOrder.objects.select_for_update().only("pk").get(pk=n.order_id)  # record_event wants the order lock
    _finish(n, State.FAILED, error=f"rejected: {exc}")
    if n.channel == Channel.SMS:
        notification_undeliverable(order=n.order, notification_id=n.pk, channel=n.channel, message_kind=n.kind,
                                   reason=str(exc))


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
