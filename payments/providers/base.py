"""The payment provider interface: the sandbox, Alipay and WeChat Pay are each one subclass.

Providers know nothing about orders, locks or the ledger: they start a payment, verify and
parse a notification into a neutral `WebhookEvent`, refund, and answer what they know of a payment or a
refund (query). payments.services does the rest. A provider built for a brand's account (`account`) signs and
verifies with that account's keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from payments.models import Payment, PaymentAccount, Refund


class WebhookRejected(Exception):
    """The notification cannot be trusted or read; nothing may change because of it.

    `claimed_reference` is the payment reference (out_trade_no) the notification names, unverified: when it is a
    payment of the account the notification came to, its store is told (never trusted for anything else)."""

    code = "invalid_webhook"
    signature_valid = False  # whether the provider's signature was verified before it was refused

    def __init__(self, detail: str, *, claimed_event_id: str = "", claimed_reference: str = "",
                 signature_valid: bool | None = None):
        super().__init__(detail)
        self.detail = detail
        self.claimed_event_id = claimed_event_id
        self.claimed_reference = claimed_reference
        if signature_valid is not None:
            self.signature_valid = signature_valid


class InvalidSignature(WebhookRejected):
    code = "invalid_signature"


class StaleWebhook(WebhookRejected):
    code = "stale_webhook"


class MalformedWebhook(WebhookRejected):
    code = "malformed_webhook"
    signature_valid = True  # signed, but not readable as an event (pass signature_valid=False before the check)


class ForeignAccount(WebhookRejected):
    """Signed by the provider, but about another app id or merchant number than the account it came to."""

    code = "foreign_account"
    signature_valid = True


class ProviderUnavailable(Exception):
    """The provider could not be reached, or its answer could not be trusted; retry later (Celery tasks retry on
    this)."""


class ProviderRefused(Exception):
    """The provider refused the request for good (bad parameters, an account it does not know): asking again the
    same way cannot help."""

    def __init__(self, detail: str, *, code: str = ""):
        super().__init__(detail)
        self.detail = detail
        self.code = code


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
class StartRequest:
    """What opening a payment needs beyond the payment row."""

    channel: str
    subject: str = ""  # what the payer sees at the provider
    notify_url: str = ""  # where the provider sends its notifications (absolute)
    return_url: str = ""  # where the payer's browser goes afterwards (redirect channels)
    openid: str = ""  # the payer at WeChat (wechat_jsapi)
    client_ip: str = ""  # the payer's IP address (wechat_h5)
    expires_at: datetime | None = None  # the provider closes the trade then


@dataclass(frozen=True)
class StartResult:
    provider_payment_id: str
    checkout_url: str
    # The contract's `action` for the payer's client: {"type": "redirect", "url"} | {"type": "qr", "code_url"} |
    # {"type": "jsapi", "params"}.
    action: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RefundResult:
    # "succeeded", "pending" (a notification or a later ask will tell), "failed", or (a query only) "unknown": the
    # provider has no such refund.
    status: str
    provider_refund_id: str = ""
    detail: str = ""
    amount: Decimal | None = None


@dataclass(frozen=True)
class PaymentStatus:
    """What the provider says of one payment when asked."""

    state: str  # "paid", "waiting" (the payer has not paid yet), "closed" (never paid), "unknown" (no such trade)
    amount: Decimal | None = None
    currency: str = ""
    provider_payment_id: str = ""
    detail: str = ""  # the provider's own status word, for people


class PaymentProvider:
    """Subclass and register in PROVIDERS (payments/providers/__init__.py)."""

    name: str = ""
    # A refund notification for a refund we never asked for is booked as "refunded at the provider" (the
    # sandbox's dashboard) only where this is true; real providers' are refused, recorded and told to the store.
    records_unknown_refunds: bool = False
    # Whether query_payment / query_refund can be asked (reconciliation, the pending-payment job).
    can_query: bool = False

    def __init__(self, account: PaymentAccount | None = None):
        self.account = account

    def start_payment(self, payment: Payment, request: StartRequest) -> StartResult:
        """Open the payment at the provider. Must be idempotent per payment.reference: it may be
        called more than once for one payment (pass the reference as the provider's idempotency key).
        Raise ProviderUnavailable (try again) or ProviderRefused (it never will)."""
        raise NotImplementedError

    def verify_and_parse_webhook(self, headers: dict[str, str], raw_body: bytes) -> WebhookEvent:
        """Verify the signature (constant-time) and freshness over the *raw* body, then parse.
        Raise InvalidSignature, StaleWebhook, MalformedWebhook or ForeignAccount (another app id or merchant
        number than the account's); never return an unverified event. `headers` have lower-case names."""
        raise NotImplementedError

    def refund(self, payment: Payment, amount: Decimal, refund: Refund) -> RefundResult:
        """Ask the provider to refund `amount` of a captured payment. Idempotent per refund.reference."""
        raise NotImplementedError

    def query_payment(self, payment: Payment) -> PaymentStatus:
        """What the provider knows of the payment (by payment.reference). ProviderUnavailable when it cannot say."""
        raise NotImplementedError

    def query_refund(self, refund: Refund) -> RefundResult:
        """What the provider knows of the refund (by refund.reference). ProviderUnavailable when it cannot say."""
        raise NotImplementedError
