"""Proving it is the consumer: a 6-digit code by SMS to the order's consumer phone opens a session on the
device for that order.

A code is valid PORTAL_CODE_TTL_SECONDS (5 min) and takes PORTAL_CODE_MAX_ATTEMPTS (5) tries, then it is
locked; only the newest code of an order counts. At most PORTAL_CODES_PER_PHONE_PER_HOUR (5) codes go to one
phone and PORTAL_CODES_PER_IP_PER_HOUR (20) are asked for from one address per hour. Codes are kept as a keyed
hash (HMAC with SECRET_KEY) and compared in constant time; the session key is kept as its SHA-256. A session
ends after PORTAL_SESSION_DAYS, on logout, or when the order's tracking link is revoked (it names the link's
version).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _

from core.errors import DomainError
from notifications.sms import SMSDeliveryError, SMSRejected, get_sms_backend, mask_phone
from portal import events
from portal.conf import setting
from portal.models import ConsumerSession, VerificationCode
from tenancy.models import User
from workflows import engine
from workflows.models import ServiceOrder

logger = logging.getLogger("portal")


def _code_hash(order_id: int, code: str) -> str:
    # Keyed and bound to the order: a leaked table does not give codes away by a lookup of 10^6 hashes.
    return salted_hmac("portal.verification-code", f"{order_id}:{code}", algorithm="sha256").hexdigest()


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class TooManyCodes(DomainError):
    """Too many codes asked for: wait a while."""

    code = "too_many_codes"
    status_code = 429


@dataclass(frozen=True)
class CodeResult:
    """How a try went: `ok` with the new session's key (for the cookie), else a stable `code`
    (code_wrong, code_locked, code_expired, no_code) and the tries left."""

    ok: bool
    code: str = ""
    session_key: str = ""
    session: ConsumerSession | None = None
    tries_left: int = 0


@transaction.atomic
def _code_create(*, order_id: int, ip: str | None) -> tuple[ServiceOrder, str, str, VerificationCode]:
    order = engine.lock_order(order_id)
    # The consumer's row too: two orders of one phone asking at once still count against one limit.
    consumer = User.objects.select_for_update().only("phone").get(pk=order.consumer_id)
    phone = consumer.phone or ""
    if not phone:
        raise DomainError(_("This order has no phone number to send a code to. Ask the store."), code="no_phone")
    now = timezone.now()
    hour_ago = now - timedelta(hours=1)
    if VerificationCode.objects.filter(phone=phone, created_at__gt=hour_ago).count() \
            >= setting("PORTAL_CODES_PER_PHONE_PER_HOUR"):
        raise TooManyCodes(_("Too many codes were sent to this phone in the last hour. Try again later."))
    if ip and VerificationCode.objects.filter(ip=ip, created_at__gt=hour_ago).count() \
            >= setting("PORTAL_CODES_PER_IP_PER_HOUR"):
        raise TooManyCodes(_("Too many codes were asked for from this network in the last hour. Try again later."))
    code = f"{secrets.randbelow(10**6):06d}"
    row = VerificationCode.objects.create(
        order=order, phone=phone, code_hash=_code_hash(order.pk, code), ip=ip or None, created_at=now,
        expires_at=now + timedelta(seconds=setting("PORTAL_CODE_TTL_SECONDS")),
    )
    events.portal_event(events.CODE_SENT, order=order, actor=consumer, code=row.pk, expires_at=row.expires_at)
    return order, phone, code, row


def code_send(*, order: ServiceOrder, ip: str | None) -> VerificationCode:
    """Make a code for the order and text it to the order's consumer phone (after the commit: a code that was
    never recorded is never sent). DomainError: no phone (400), too many codes (429), the SMS provider
    refused or is down (400 `sms_failed`; the consumer may ask again)."""
    order, phone, code, row = _code_create(order_id=order.pk, ip=ip)
    minutes = setting("PORTAL_CODE_TTL_SECONDS") // 60
    message = _("Your verification code is %(code)s, valid for %(minutes)s minutes, for order %(number)s. "
                "Do not tell it to anyone.") % {"code": code, "minutes": minutes, "number": order.number}
    try:
        get_sms_backend().send(phone, message, reference=f"portal-code-{row.pk}", kind="portal.code",
                               params={"code": code, "minutes": str(minutes), "n": order.number})
    except (SMSDeliveryError, SMSRejected) as exc:
        logger.warning("verification code %s to %s not sent: %s", row.pk, mask_phone(phone), exc)
        raise DomainError(_("The code could not be sent just now. Try again in a moment."),
                          code="sms_failed") from None
    return row


@transaction.atomic
def _code_try(*, order_id: int, code: str) -> CodeResult:
    order = engine.lock_order(order_id)
    row = (VerificationCode.objects.select_for_update().filter(order_id=order.pk)
           .order_by("-created_at", "-pk").first())
    now = timezone.now()
    limit = setting("PORTAL_CODE_MAX_ATTEMPTS")
    if row is None or row.used_at is not None:
        return CodeResult(ok=False, code="no_code")
    if row.attempts >= limit:
        return CodeResult(ok=False, code="code_locked")
    if row.expires_at <= now:
        return CodeResult(ok=False, code="code_expired")
    row.attempts += 1
    # Always compare, whatever the input looks like: the time taken says nothing about the code.
    matches = constant_time_compare(row.code_hash, _code_hash(order.pk, (code or "").strip()))
    if not matches:
        row.save(update_fields=["attempts"])
        if row.attempts >= limit:
            events.portal_event(events.CODE_LOCKED, order=order, actor=None, code=row.pk, attempts=row.attempts)
            return CodeResult(ok=False, code="code_locked")
        return CodeResult(ok=False, code="code_wrong", tries_left=limit - row.attempts)
    row.used_at = now
    row.save(update_fields=["attempts", "used_at"])
    key = secrets.token_urlsafe(32)
    session = ConsumerSession.objects.create(
        order=order, key_hash=_key_hash(key), link_version=order.tracking_token_version, created_at=now,
        expires_at=now + timedelta(days=setting("PORTAL_SESSION_DAYS")),
    )
    events.portal_event(events.SESSION_OPENED, order=order, actor=order.consumer, session=session.pk,
                        expires_at=session.expires_at)
    return CodeResult(ok=True, session_key=key, session=session)


def code_verify(*, order: ServiceOrder, code: str) -> CodeResult:
    """Try a code against the order's newest one. A wrong try is counted (and kept: the count is committed
    whatever the answer); the last allowed wrong try locks the code."""
    return _code_try(order_id=order.pk, code=code)


def session_for(*, order: ServiceOrder, key: str | None) -> ConsumerSession | None:
    """The live session this device's key opens for this order and its current link, or None. One query
    (none without a key)."""
    if not key:
        return None
    return ConsumerSession.objects.filter(
        key_hash=_key_hash(key), order_id=order.pk, link_version=order.tracking_token_version,
        ended_at__isnull=True, expires_at__gt=timezone.now(),
    ).first()


@transaction.atomic
def session_end(*, order: ServiceOrder, key: str | None) -> bool:
    """Log this device out of the order (True when there was a live session to end)."""
    session = session_for(order=order, key=key)
    if session is None:
        return False
    locked = engine.lock_order(order.pk)
    ConsumerSession.objects.filter(pk=session.pk).update(ended_at=timezone.now())
    events.portal_event(events.SESSION_ENDED, order=locked, actor=locked.consumer, session=session.pk)
    return True
