"""The payment provider interface. A real provider (Alipay, WeChat Pay, Stripe) is one subclass.

Providers know nothing about orders, locks or the ledger: they start a payment, verify and
parse a notification into a neutral `WebhookEvent`, and refund. payments.services does the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from payments.models import Payment, Refund


class WebhookRejected(Exception):
    """The notification cannot be trusted or read; nothing may change because of it."""

    code = "invalid_webhook"

    def __init__(self, detail: str, *, claimed_event_id: str = ""):
        super().__init__(detail)
        self.detail = detail
        self.claimed_event_id = claimed_event_id


class InvalidSignature(WebhookRejected):
    code = "invalid_signature"


class StaleWebhook(WebhookRejected):
    code = "stale_webhook"


class MalformedWebhook(WebhookRejected):
    code = "malformed_webhook"


class ProviderUnavailable(Exception):
    """The provider could not be reached; retry later (Celery tasks retry on this)."""


# Neutral event types every provider maps its own notifications to.
PAYMENT_PENDING = "payment.pending"
PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_FAILED = "payment.failed"
REFUND_SUCCEEDED = "refund.succeeded"
REFUND_FAILED = "refund.failed"
EVENT_TYPES = (PAYMENT_PENDING, PAYMENT_SUCCEEDED, PAYMENT_FAILED, REFUND_SUCCEEDED, REFUND_FAILED)


@dataclass(frozen=True)
class WebhookEvent:
    id: str  # the provider's event id: the deduplication key
    type: str  # one of EVENT_TYPES, or the provider's own type when unknown (acknowledged, ignored)
    payment_reference: str = ""  # our Payment.reference, when the provider echoes it
    provider_payment_id: str = ""
    amount: Decimal | None = None
    currency: str = ""
    refund_reference: str = ""  # our Refund.reference, when the provider echoes it
    provider_refund_id: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StartResult:
    provider_payment_id: str
    checkout_url: str


@dataclass(frozen=True)
class RefundResult:
    status: str  # "succeeded", "pending" (a webhook will tell) or "failed"
    provider_refund_id: str = ""
    detail: str = ""


class PaymentProvider:
    """Subclass and register in PROVIDERS (payments/providers/__init__.py)."""

    name: str = ""

    def start_payment(self, payment: Payment) -> StartResult:
        """Open the payment at the provider. Must be idempotent per payment.reference: it may be
        called more than once for one payment (pass the reference as the provider's idempotency key)."""
        raise NotImplementedError

    def verify_and_parse_webhook(self, headers: dict[str, str], raw_body: bytes) -> WebhookEvent:
        """Verify the signature (constant-time) and freshness over the *raw* body, then parse.
        Raise InvalidSignature, StaleWebhook or MalformedWebhook; never return an unverified event.
        `headers` have lower-case names."""
        raise NotImplementedError

    def refund(self, payment: Payment, amount: Decimal, refund: Refund) -> RefundResult:
        """Ask the provider to refund `amount` of a captured payment. Idempotent per refund.reference."""
        raise NotImplementedError
