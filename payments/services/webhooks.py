"""Notifications from payment providers (webhooks): verified, stored, applied once."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from core.errors import DomainError, InvalidTransition, NotFound
from payments import events
from payments.models import Payment, PaymentAccount, WebhookDelivery
from payments.providers import get_provider
from payments.providers.base import (
    EVENT_TYPES,
    PAYMENT_FAILED,
    PAYMENT_PENDING,
    PAYMENT_SUCCEEDED,
    REFUND_SUCCEEDED,
    PaymentProvider,
    WebhookEvent,
    WebhookRejected,
)
from payments.services.refunds import _refund_from_event
from payments.services.settlement import _lock_chain, payment_capture, payment_fail, payment_mark_pending
from workflows.models import OrderEvent

SENSITIVE_HEADERS = {"authorization", "cookie", "proxy-authorization"}


@dataclass
class WebhookResult:
    status: str  # processed | duplicate
    result: str
    delivery_id: int


def _payments_of(provider: str, account: PaymentAccount | None):
    """The payments a notification may be about: the provider's, and of the account it came to."""
    qs = Payment.objects.filter(provider=provider)
    return qs.filter(account_id=account.pk) if account is not None else qs


def _find_payment(event: WebhookEvent, provider: str, account: PaymentAccount | None) -> Payment | None:
    qs = _payments_of(provider, account)
    payment = qs.filter(reference=event.payment_reference).first() if event.payment_reference else None
    if payment is None and event.provider_payment_id:
        payment = qs.filter(provider_payment_id=event.provider_payment_id).first()
    return payment


def _process_event(event: WebhookEvent, prov: PaymentProvider) -> tuple[str, Payment | None]:
    if event.type not in EVENT_TYPES:
        return "ignored: unknown event type", None
    payment = _find_payment(event, prov.name, prov.account)
    if payment is None:
        return "ignored: unknown payment", None
    if event.type == PAYMENT_PENDING:
        return payment_mark_pending(payment=payment), payment
    if event.type == PAYMENT_SUCCEEDED:
        return payment_capture(payment=payment, amount=event.amount, currency=event.currency,
                               provider_payment_id=event.provider_payment_id), payment
    if event.type == PAYMENT_FAILED:
        return payment_fail(payment=payment), payment
    return _refund_from_event(payment, event, succeeded=event.type == REFUND_SUCCEEDED,
                              records_unknown=prov.records_unknown_refunds), payment


def _tell_store_of_rejection(exc: WebhookRejected, provider: str, account: PaymentAccount | None) -> None:
    """A refused notification that names a payment of the account it came to goes on that order's record, and its
    store is told: once per payment and reason (a flood of forged copies tells nobody twice). What it names is
    not trusted for anything else."""
    if account is None or not exc.claimed_reference:
        return
    payment_id = _payments_of(provider, account).filter(reference=exc.claimed_reference).values_list(
        "pk", flat=True).first()
    if payment_id is None:
        return
    with transaction.atomic():
        order, inst, payment = _lock_chain(payment_id)
        told = OrderEvent.objects.filter(order_id=order.pk, kind=events.NOTIFICATION_REJECTED.name,
                                         payload__payment=payment.pk, payload__reason=exc.code).exists()
        if not told:
            events.notification_rejected(order=order, installment=inst, payment=payment, reason=exc.code,
                                         detail=exc.detail)


def webhook_receive(*, provider: str, headers, raw_body: bytes,
                    account: PaymentAccount | None = None) -> WebhookResult:
    """Verify, store, deduplicate and apply one provider notification.

    Every delivery is stored. A bad or stale signature or an unreadable body raises a 400
    DomainError and changes nothing else. A verified event is applied at most once: the accepted
    delivery row and the changes it causes commit together, and the unique constraint on
    (provider, provider_event_id) turns every repeat into a `duplicate` that changes nothing.
    Unknown event types and unknown payments are acknowledged (200) and recorded, so the provider
    stops retrying something that retrying cannot fix. `account`: the brand's account whose notification URL it
    came to (real providers): it is verified with that account's keys and may only be about its payments; a
    refused one that names one of them is told to the store (_tell_store_of_rejection).
    """
    header_map = {str(k).lower(): str(v) for k, v in dict(headers).items()}
    # Stored as sent, except NUL bytes, which PostgreSQL text cannot hold.
    stored_headers = {k: v[:500].replace("\x00", "\ufffd") for k, v in header_map.items() if k not in SENSITIVE_HEADERS}
    row = {"provider": provider[:30].replace("\x00", "\ufffd"), "account": account,
           "raw_body": raw_body.decode("utf-8", "replace").replace("\x00", "\ufffd"), "headers": stored_headers}
    try:
        prov = get_provider(provider, account)
    except NotFound:
        WebhookDelivery.objects.create(**row, status=WebhookDelivery.Status.REJECTED, result="unknown provider")
        raise
    try:
        event = prov.verify_and_parse_webhook(header_map, raw_body)
    except WebhookRejected as exc:
        WebhookDelivery.objects.create(
            **row, status=WebhookDelivery.Status.REJECTED, provider_event_id=exc.claimed_event_id,
            signature_valid=exc.signature_valid, result=f"{exc.code}: {exc.detail}"[:300])
        _tell_store_of_rejection(exc, provider, account)
        raise DomainError(exc.detail, code=exc.code, status_code=400) from None
    accepted = {"provider_event_id": event.id, "event_type": event.type, "signature_valid": True}
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    delivery = WebhookDelivery.objects.create(**row, **accepted,
                                                              status=WebhookDelivery.Status.ACCEPTED)
            except IntegrityError:
                delivery = None
            if delivery is None:
                dup = WebhookDelivery.objects.create(**row, **accepted, status=WebhookDelivery.Status.DUPLICATE,
                                                     result="duplicate: already applied")
                return WebhookResult(status="duplicate", result=dup.result, delivery_id=dup.pk)
            result, payment = _process_event(event, prov)
            delivery.processed, delivery.result, delivery.payment = True, result[:300], payment
            delivery.save(update_fields=["processed", "result", "payment"])
            return WebhookResult(status="processed", result=result, delivery_id=delivery.pk)
    except Exception as exc:
        # Keep the failed delivery for audit; the provider retries (the accepted row rolled back).
        WebhookDelivery.objects.create(**row, **accepted, status=WebhookDelivery.Status.FAILED,
                                       result=f"error: {exc.__class__.__name__}"[:300])
        raise


def sandbox_checkout_complete(*, payment: Payment, outcome: str) -> WebhookResult:
    """What the sandbox checkout page does: send the signed notification a provider would."""
    from payments.providers import sandbox

    if outcome not in ("paid", "failed"):
        raise DomainError(_("outcome must be 'paid' or 'failed'."), code="invalid",
                          errors={"outcome": ["Must be paid or failed."]})
    if payment.provider != sandbox.SandboxProvider.name:
        raise NotFound(_("No such sandbox payment."))
    if not payment.is_open:
        raise InvalidTransition(_("This payment is %(status)s.") % {"status": payment.get_status_display()}, allowed=[])
    event_type = PAYMENT_SUCCEEDED if outcome == "paid" else PAYMENT_FAILED
    headers, body = sandbox.build_webhook(event_type, sandbox.payment_event_data(payment))
    return webhook_receive(provider=payment.provider, headers=headers, raw_body=body)

