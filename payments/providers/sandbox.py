"""The built-in sandbox provider: no network, but the same signed-webhook path a real provider takes.

Its checkout page (payments/pages.py) settles a payment by building the notification a real
provider would send, signed with settings.SANDBOX_WEBHOOK_SECRET, and handing it to
payments.services.webhook_receive - the function the HTTP webhook endpoint calls.

Signature: hex HMAC-SHA256 over "<timestamp>.<raw body>" in `X-Sandbox-Signature`, the Unix
timestamp in `X-Sandbox-Timestamp`; older or newer than settings.WEBHOOK_TOLERANCE_SECONDS is stale.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from payments.providers.base import (
    REFUND_SUCCEEDED,
    InvalidSignature,
    MalformedWebhook,
    PaymentProvider,
    RefundResult,
    StaleWebhook,
    StartResult,
    WebhookEvent,
)

TIMESTAMP_HEADER = "X-Sandbox-Timestamp"
SIGNATURE_HEADER = "X-Sandbox-Signature"


def sign(raw_body: bytes, timestamp: int, secret: str | None = None) -> str:
    secret = secret if secret is not None else settings.SANDBOX_WEBHOOK_SECRET
    message = str(timestamp).encode() + b"." + raw_body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def build_webhook(event_type: str, data: dict, *, event_id: str | None = None, timestamp: int | None = None,
                  secret: str | None = None) -> tuple[dict[str, str], bytes]:
    """Headers and raw body of a signed sandbox notification (what the sandbox 'sends')."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    body = json.dumps({
        "id": event_id or f"evt_{secrets.token_hex(12)}", "type": event_type, "created": timestamp, "data": data,
    }, separators=(",", ":")).encode()
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(body, timestamp, secret)}, body


def payment_event_data(payment) -> dict:
    return {"payment_id": payment.provider_payment_id or f"sbx_pay_{payment.reference}",
            "reference": payment.reference, "amount": str(payment.amount), "currency": payment.currency}


class SandboxProvider(PaymentProvider):
    name = "sandbox"
    records_unknown_refunds = True  # a refund made at "its dashboard" (a test's notification) is booked

    def start_payment(self, payment, request=None) -> StartResult:
        # Deterministic from our reference, so starting twice is harmless.
        path = reverse("sandbox-checkout", kwargs={"token": payment.reference})
        url = f"{settings.SITE_URL.rstrip('/')}{path}"
        if request is not None and request.return_url:  # the page sends the payer back there (same site only)
            url += f"?{urlencode({'return': request.return_url})}"
        return StartResult(provider_payment_id=f"sbx_pay_{payment.reference}", checkout_url=url,
                           action={"type": "redirect", "url": url})

    def verify_and_parse_webhook(self, headers: dict[str, str], raw_body: bytes) -> WebhookEvent:
        timestamp_text = headers.get(TIMESTAMP_HEADER.lower(), "")
        signature = headers.get(SIGNATURE_HEADER.lower(), "")
        claimed = _claimed_event_id(raw_body)
        if not timestamp_text or not signature:
            raise InvalidSignature("Missing signature headers.", claimed_event_id=claimed)
        try:
            timestamp = int(timestamp_text)
        except ValueError:
            raise InvalidSignature("The timestamp is not a number.", claimed_event_id=claimed) from None
        expected = sign(raw_body, timestamp)
        if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
            raise InvalidSignature("The signature does not match.", claimed_event_id=claimed)
        if abs(time.time() - timestamp) > settings.WEBHOOK_TOLERANCE_SECONDS:
            raise StaleWebhook("The timestamp is outside the tolerance window.", claimed_event_id=claimed)
        try:
            body = json.loads(raw_body)
            data = body.get("data") or {}
            event_id, event_type = str(body["id"]), str(body["type"])
            amount = Decimal(str(data["amount"])) if data.get("amount") is not None else None
            if not isinstance(data, dict) or not event_id or (amount is not None and not amount.is_finite()):
                raise ValueError
        except (ValueError, KeyError, TypeError, AttributeError, InvalidOperation):
            raise MalformedWebhook("The body is not a sandbox event.", claimed_event_id=claimed) from None
        return WebhookEvent(
            id=event_id[:128], type=event_type[:60], payment_reference=str(data.get("reference", "")),
            provider_payment_id=str(data.get("payment_id", "")), amount=amount,
            currency=str(data.get("currency", "")), refund_reference=str(data.get("refund_reference", "")),
            provider_refund_id=str(data.get("refund_id", "")), raw=body,
        )

    def refund(self, payment, amount: Decimal, refund) -> RefundResult:
        """Succeeds at once, and also sends the refund notification a real provider would send
        (both paths settle the same refund, once)."""
        from payments.services import webhook_receive

        provider_refund_id = f"sbx_re_{refund.reference}"
        data = {**payment_event_data(payment), "amount": str(amount), "refund_id": provider_refund_id,
                "refund_reference": refund.reference}
        headers, body = build_webhook(REFUND_SUCCEEDED, data)
        webhook_receive(provider=self.name, headers=headers, raw_body=body)
        return RefundResult(status="succeeded", provider_refund_id=provider_refund_id)


def _claimed_event_id(raw_body: bytes) -> str:
    """The event id the body claims, for the audit row only (never trusted)."""
    try:
        return str(json.loads(raw_body).get("id", ""))[:128]
    except (ValueError, AttributeError, TypeError):
        return ""
