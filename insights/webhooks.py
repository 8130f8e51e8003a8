"""Outbound webhooks: the order events of enterprise merchants, delivered to their own systems.

- `webhook_event_listener` (registered with workflows.hooks.register_event_listener) runs inside
  the event's transaction: it writes one OutboundDelivery per matching active endpoint of a merchant
  whose tier has "outbound_webhooks", and queues the delivery with transaction.on_commit, so a rolled
  back event sends nothing.
- `delivery_attempt` sends one delivery: claim it under its row lock (attempts + 1, a lease so a
  concurrent sweeper does not send it twice), POST outside the transaction, record the outcome. A 2xx
  marks it delivered (and it is never sent again); anything else schedules the next attempt with
  exponential backoff, until OUTBOUND_WEBHOOK_MAX_ATTEMPTS, then it is failed.
- Signed like the inbound payment webhooks: hex HMAC-SHA256 with the endpoint's secret over
  "<timestamp>.<raw body>", in `X-Signature`, the Unix timestamp in `X-Timestamp`; `X-Event-Id`
  (stable across retries) lets the receiver drop duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from insights.conf import setting
from insights.models import OutboundDelivery, WebhookEndpoint
from tenancy.models import Merchant
from tenancy.tiers import CAPABILITIES
from workflows.models import ServiceOrder

logger = logging.getLogger(__name__)
D = OutboundDelivery.State
USER_AGENT = "stagedservice-webhooks/1"


def webhook_tiers() -> list[str]:
    return [str(tier) for tier, caps in CAPABILITIES.items() if caps.get("outbound_webhooks")]


def sign(raw_body: bytes, timestamp: int, secret: str) -> str:
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + raw_body, hashlib.sha256).hexdigest()


def event_body(event) -> bytes:
    order = event.order
    return json.dumps({
        "id": f"evt_{event.pk}", "kind": event.kind, "created_at": event.created_at,
        "order": {"id": order.pk, "number": order.number, "store": order.store_id, "state": order.state,
                  "status": order.status},
        "seq": event.seq, "stage": event.stage_id, "trigger": event.trigger, "from_state": event.from_state,
        "to_state": event.to_state, "actor_role": event.actor_role, "payload": event.payload, "hash": event.hash,
    }, cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True).encode()


# --- queueing (inside the event's transaction) ------------------------------------------------------
def merchant_endpoints(merchant: Merchant) -> list[WebhookEndpoint]:
    """The merchant's active endpoints, or [] when its tier has no outbound webhooks.

    Asked for every order event. The merchant comes with the engine's order lock, and its
    `has_active_webhooks` flag answers without a query for merchants without webhooks (most of them)."""
    if not merchant.has_active_webhooks or merchant.tier not in webhook_tiers():
        return []
    return list(WebhookEndpoint.objects.filter(active=True, merchant_id=merchant.pk).only("pk", "event_kinds"))


def refresh_merchant_webhook_flag(sender, instance: WebhookEndpoint, **kwargs) -> None:
    """Keep Merchant.has_active_webhooks true exactly when one of its endpoints is active.

    Runs in the saving transaction. The merchant's row lock orders concurrent endpoint changes: each
    counts after the previous one committed, so the last writer never leaves a stale false behind."""
    with transaction.atomic():
        merchant = Merchant.objects.select_for_update().filter(pk=instance.merchant_id).only("pk").first()
        if merchant is None:  # the merchant itself is being deleted (cascade)
            return
        active = WebhookEndpoint.objects.filter(merchant_id=merchant.pk, active=True).exists()
        Merchant.objects.filter(pk=merchant.pk).update(has_active_webhooks=active)


def _event_merchant(event) -> Merchant:
    """The event's merchant: the one the engine's lock of the order brought along, or read."""
    order = event.order if type(event)._meta.get_field("order").is_cached(event) else None
    if order is not None and type(order)._meta.get_field("merchant").is_cached(order):
        return order.merchant
    merchant_id = order.merchant_id if order is not None else (
        ServiceOrder.objects.values_list("merchant_id", flat=True).get(pk=event.order_id)
    )
    return Merchant.objects.only("pk", "tier", "has_active_webhooks").get(pk=merchant_id)


def webhook_event_listener(event) -> None:
    endpoints = [ep for ep in merchant_endpoints(_event_merchant(event)) if ep.wants(event.kind)]
    if not endpoints:
        return
    deliveries = OutboundDelivery.objects.bulk_create(
        [OutboundDelivery(endpoint_id=ep.pk, event=event, next_attempt_at=timezone.now()) for ep in endpoints]
    )
    ids = [d.pk for d in deliveries if d.pk is not None]
    if ids:
        transaction.on_commit(lambda: _enqueue(ids))


def _enqueue(ids: list[int]) -> None:
    from insights.tasks import deliver_webhook

    for pk in ids:
        deliver_webhook.delay(pk)


# --- sending ------------------------------------------------------------------------------------------
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a redirect is an answer (3xx), never followed to another host


_opener = urllib.request.build_opener(_NoRedirect)


class UnsafeDestination(Exception):
    pass


def _check_destination(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeDestination("only http(s) URLs are delivered to")
    if setting("OUTBOUND_WEBHOOK_ALLOW_PRIVATE_HOSTS"):
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except OSError as exc:
        raise UnsafeDestination(f"cannot resolve {parts.hostname}") from exc
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if not ip.is_global:
            raise UnsafeDestination(f"{parts.hostname} resolves to a non-public address")


def http_post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int | None, str, str]:
    """POST and return (status or None, response snippet, error)."""
    try:
        _check_destination(url)
    except UnsafeDestination as exc:
        return None, "", str(exc)
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310 (checked)
    try:
        with _opener.open(request, timeout=timeout) as response:
            return response.status, response.read(500).decode("utf-8", "replace"), ""
    except urllib.error.HTTPError as exc:
        snippet = exc.read(500).decode("utf-8", "replace") if exc.fp else ""
        return exc.code, snippet, f"HTTP {exc.code}"
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, "", f"{type(exc).__name__}: {reason}"[:300]


def backoff(attempts: int) -> timedelta:
    base = setting("OUTBOUND_WEBHOOK_BACKOFF_SECONDS")
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), setting("OUTBOUND_WEBHOOK_BACKOFF_MAX_SECONDS")))


def _locked(delivery_id: int) -> OutboundDelivery | None:
    return (OutboundDelivery.objects.select_for_update(of=("self",))
            .select_related("endpoint__merchant", "event__order").filter(pk=delivery_id).first())


def delivery_attempt(*, delivery_id: int, now: datetime | None = None, force: bool = False) -> OutboundDelivery | None:
    """Send one delivery if it is pending and due (or `force`). Idempotent: a delivered one is never re-sent."""
    now = now or timezone.now()
    timeout = setting("OUTBOUND_WEBHOOK_TIMEOUT_SECONDS")
    with transaction.atomic():
        d = _locked(delivery_id)
        if d is None or d.state != D.PENDING:
            return d
        if not force and d.next_attempt_at is not None and d.next_attempt_at > now:
            return d
        endpoint = d.endpoint
        if not endpoint.active or endpoint.merchant.tier not in webhook_tiers():
            d.state, d.last_error = D.FAILED, "endpoint disabled or tier without outbound webhooks"
            d.next_attempt_at = None
            d.save(update_fields=["state", "last_error", "next_attempt_at"])
            return d
        d.attempts += 1
        # The lease: while this attempt is in flight the sweeper sees it as not due.
        d.next_attempt_at = now + timedelta(seconds=timeout * 3)
        d.save(update_fields=["attempts", "next_attempt_at"])
        body = event_body(d.event)
        url, secret, attempt = endpoint.url, endpoint.secret, d.attempts
    ts = int(time.time())
    headers = {
        "Content-Type": "application/json", "User-Agent": USER_AGENT, "X-Timestamp": str(ts),
        "X-Signature": sign(body, ts, secret), "X-Event-Id": f"evt_{d.event_id}",
        "X-Delivery-Attempt": str(attempt),
    }
    status, snippet, error = http_post(url, body, headers, timeout)
    with transaction.atomic():
        d = _locked(delivery_id)
        if d.state != D.PENDING:
            return d
        d.last_status, d.response_snippet, d.last_error = status, snippet[:500], error[:300]
        done_at = timezone.now()
        if status is not None and 200 <= status < 300:
            d.state, d.delivered_at, d.next_attempt_at = D.DELIVERED, done_at, None
        elif d.attempts >= setting("OUTBOUND_WEBHOOK_MAX_ATTEMPTS"):
            d.state, d.next_attempt_at = D.FAILED, None
        else:
            d.next_attempt_at = done_at + backoff(d.attempts)
        d.save(update_fields=["last_status", "response_snippet", "last_error", "state", "delivered_at",
                              "next_attempt_at"])
    if d.state != D.DELIVERED:
        logger.warning("webhook delivery %s attempt %s failed: %s", d.pk, d.attempts, error or status)
    return d


def due_delivery_ids(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    now = now or timezone.now()
    return list(OutboundDelivery.objects.filter(state=D.PENDING, next_attempt_at__lte=now)
                .order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])


def delivery_retry_now(*, delivery: OutboundDelivery) -> bool:
    """Admin "send again": a pending or failed delivery becomes due now (a delivered one is left alone)."""
    with transaction.atomic():
        d = _locked(delivery.pk)
        if d is None or d.state == D.DELIVERED:
            return False
        if d.state == D.FAILED:
            d.attempts = 0
        d.state, d.next_attempt_at = D.PENDING, timezone.now()
        d.save(update_fields=["state", "attempts", "next_attempt_at"])
        transaction.on_commit(lambda: _enqueue([d.pk]))
    return True
