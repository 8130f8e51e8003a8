"""Paying an installment: open a payment attempt and start it at the provider."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _

from core.errors import InvalidTransition
from payments import events
from payments.lock_objects import installment_qs_select_for_update, payment_qs_select_for_update
from payments.models import Installment, Payment
from payments.providers import get_provider
from tenancy import policy
from workflows import engine

I = Installment.State  # noqa: E741
P = Payment.Status


@dataclass
class PayResult:
    payment: Payment
    created: bool


def installment_pay(*, installment: Installment, actor) -> PayResult:
    """Open a payment attempt for a due installment, or return the one already open.

    Store staff may also open one (to show the consumer the checkout link or QR at the counter);
    the money still comes from the consumer through the provider."""
    policy.require(actor, "pay")
    with transaction.atomic():
        order = engine.lock_order(installment.order_id)
        inst = installment_qs_select_for_update().get(pk=installment.pk)
        open_payment = Payment.objects.filter(installment_id=inst.pk, status__in=Payment.OPEN_STATUSES).first()
        if inst.state == I.PROCESSING and open_payment is not None:
            payment, created = open_payment, False
        elif inst.state in Installment.PAYABLE_STATES or inst.state == I.PROCESSING:
            provider = get_provider()
            payment = Payment.objects.create(
                installment=inst, order=order, provider=provider.name, amount=inst.amount, currency=inst.currency,
                created_by=actor if getattr(actor, "pk", None) else None,
            )
            if inst.state != I.PROCESSING:
                inst.mark_processing()
                inst.save()
            events.payment_event(events.PAYMENT_STARTED, order=order, installment=inst, payment=payment, actor=actor,
                                 provider=payment.provider)
            created = True
        else:
            raise InvalidTransition(_("This installment is %(state)s; only a due installment can be paid.")
                                    % {"state": inst.get_state_display()},
                                    allowed=[], state=inst.state)
    return PayResult(payment=payment_ensure_started(payment), created=created)


def payment_ensure_started(payment: Payment) -> Payment:
    """Open the payment at the provider (outside any lock) and keep its id and checkout URL."""
    if payment.checkout_url or not payment.is_open:
        return payment
    result = get_provider(payment.provider).start_payment(payment)
    with transaction.atomic():
        engine.lock_order(payment.order_id)
        p = payment_qs_select_for_update().get(pk=payment.pk)
        if not p.checkout_url:
            p.provider_payment_id = p.provider_payment_id or result.provider_payment_id
            p.checkout_url = result.checkout_url
            if p.status == P.CREATED:
                p.mark_pending()
            p.save()
    return p

