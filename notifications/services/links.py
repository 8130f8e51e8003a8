"""The consumer's tracking links: signed, unguessable, revocable (a new version stops every link handed out)."""

from __future__ import annotations

import zlib
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import F
from django.urls import reverse

from notifications.conf import setting
from notifications.models import Notification
from workflows.models import ServiceOrder

State = Notification.State
Channel = Notification.Channel




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
