"""Paying an installment: open a payment attempt through a channel and start it at the provider."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError, InvalidTransition
from payments import events
from payments.channels import CHANNELS, SANDBOX, Channel, channels_for, sandbox_enabled
from payments.lock_objects import installment_qs_select_for_update, payment_qs_select_for_update
from payments.models import Installment, Payment, PaymentAccount
from payments.providers import provider_for
from payments.providers.base import ProviderRefused, ProviderUnavailable, StartRequest
from payments.services.settlement import _lock_chain
from tenancy import policy
from workflows import engine
from workflows.models import ServiceOrder

I = Installment.State  # noqa: E741
P = Payment.Status


@dataclass
class PayResult:
    payment: Payment
    created: bool


@dataclass(frozen=True)
class Payer:
    """What the channel needs to know of the payer: WeChat's openid (wechat_jsapi), the payer's IP address
    (wechat_h5), where the browser goes back to (redirect channels: an absolute URL on this site)."""

    openid: str = ""
    client_ip: str = ""
    return_url: str = ""


def attempt_ttl() -> timedelta:
    return timedelta(minutes=settings.PAYMENT_ATTEMPT_TTL_MINUTES)


def _channel_refused(channel: str, detail: str) -> DomainError:
    return DomainError(detail, code="channel_unavailable", channel=channel, errors={"channel": [detail]})


def _resolve_channel(order: ServiceOrder, inst: Installment, name: str, payer: Payer) -> tuple[Channel, int | None]:
    """The channel asked for (the sandbox when none is and it is enabled) and the brand's account it pays into.
    A channel the brand does not offer, or whose provider cannot take the currency: 400 naming the channel."""
    if not name:
        if not sandbox_enabled():
            offered = ", ".join(available_channels(order.merchant_id, inst.currency)) or _("none")
            raise DomainError(_("Choose a payment channel (offered: %(offered)s).") % {"offered": offered},
                              code="channel_required", errors={"channel": [_("This field is required.")]})
        name = SANDBOX
    channel = CHANNELS.get(name)
    if channel is None:
        raise _channel_refused(name[:40], _("%(channel)s is not a payment channel.") % {"channel": name[:40]})
    if not channel.takes(inst.currency):
        raise _channel_refused(name, _("%(channel)s takes %(currencies)s only; this installment is in %(currency)s.")
                               % {"channel": name, "currencies": ", ".join(channel.currencies or ()),
                                  "currency": inst.currency})
    if channel.needs_openid and not payer.openid:
        raise DomainError(_("%(channel)s needs the payer's openid.") % {"channel": name}, code="invalid",
                          errors={"openid": [_("Required for %(channel)s.") % {"channel": name}]})
    if channel.provider == SANDBOX:
        if not sandbox_enabled():
            raise _channel_refused(name, _("This brand does not offer %(channel)s.") % {"channel": name})
        return channel, None
    account_id = PaymentAccount.objects.filter(merchant_id=order.merchant_id, provider=channel.provider,
                                               active=True).values_list("pk", flat=True).first()
    if account_id is None:
        raise _channel_refused(name, _("This brand does not offer %(channel)s.") % {"channel": name})
    return channel, account_id


def available_channels(merchant_id: int, currency: str) -> list[str]:
    providers = PaymentAccount.objects.filter(merchant_id=merchant_id, active=True).values_list("provider", flat=True)
    return channels_for(providers, currency)


def installment_pay(*, installment: Installment, actor, channel: str = "", payer: Payer | None = None) -> PayResult:
    """Open a payment attempt for a due installment through `channel`, or return the one already open through
    the same channel. An attempt open through another channel is cancelled first (the payer changed their mind;
    money that still arrives for it is sent back as unowed).

    Store staff may also open one (to show the consumer the checkout link or QR at the counter);
    the money still comes from the consumer through the provider."""
    policy.require(actor, "pay")
    payer = payer or Payer()
    with transaction.atomic():
        order = engine.lock_order(installment.order_id)
        inst = installment_qs_select_for_update().get(pk=installment.pk)
        open_payment = payment_qs_select_for_update().filter(installment_id=inst.pk,
                                                             status__in=Payment.OPEN_STATUSES).first()
        if inst.state not in (*Installment.PAYABLE_STATES, I.PROCESSING):
            raise InvalidTransition(f"This installment is {inst.state}; only a due installment can be paid.",
                                    allowed=[], state=inst.state)
        chosen, account_id = _resolve_channel(order, inst, channel, payer)
        if open_payment is not None and open_payment.channel == chosen.name:
            payment, created = open_payment, False
        else:
            if open_payment is not None:
                open_payment.mark_cancelled(timezone.now())
                open_payment.save()
                events.payment_event(events.PAYMENT_CANCELLED, order=order, installment=inst, payment=open_payment,
                                     money=False, reason="the payer chose another channel")
            payment = Payment.objects.create(
                installment=inst, order=order, provider=chosen.provider, channel=chosen.name, account_id=account_id,
                amount=inst.amount, currency=inst.currency, created_by=actor if getattr(actor, "pk", None) else None,
            )
            if inst.state != I.PROCESSING:
                inst.mark_processing()
                inst.save()
            events.payment_event(events.PAYMENT_STARTED, order=order, installment=inst, payment=payment, actor=actor,
                                 provider=payment.provider)
            created = True
    return PayResult(payment=payment_ensure_started(payment, payer=payer), created=created)


def _start_request(payment: Payment, payer: Payer) -> StartRequest:
    names = (Payment.objects.filter(pk=payment.pk)
             .values_list("order__number", "installment__stage__definition__name").get())
    return StartRequest(
        channel=payment.channel or SANDBOX, subject=_("Order %(number)s: %(stage)s") % {
            "number": names[0], "stage": names[1]},
        notify_url=payment.account.notify_url() if payment.account_id else "", return_url=payer.return_url,
        openid=payer.openid, client_ip=payer.client_ip, expires_at=payment.created_at + attempt_ttl())


def payment_ensure_started(payment: Payment, *, payer: Payer | None = None) -> Payment:
    """Open the payment at the provider (outside any lock) and keep its id, checkout URL and action. The provider
    unreachable: 503 `provider_unavailable` (the attempt stays open: paying again through the same channel tries
    again). The provider refusing for good: the attempt is closed, 400 `provider_refused`."""
    if payment.action or payment.checkout_url or not payment.is_open:
        return payment
    try:
        result = provider_for(payment).start_payment(payment, _start_request(payment, payer or Payer()))
    except ProviderUnavailable as exc:
        raise DomainError(_("The payment provider cannot be reached; try again in a moment."),
                          code="provider_unavailable", status_code=503, channel=payment.channel) from exc
    except ProviderRefused as exc:
        _abandon(payment.pk, reason=f"the provider refused: {exc.code or exc.detail}"[:200])
        raise DomainError(_("The payment provider refused this payment: %(detail)s") % {"detail": exc.detail},
                          code="provider_refused", channel=payment.channel, provider_code=exc.code) from exc
    with transaction.atomic():
        engine.lock_order(payment.order_id)
        p = payment_qs_select_for_update().get(pk=payment.pk)
        if not (p.checkout_url or p.action):
            p.provider_payment_id = p.provider_payment_id or result.provider_payment_id or None
            p.checkout_url = result.checkout_url
            p.action = result.action
            if p.status == P.CREATED:
                p.mark_pending()
            p.save()
    return p


def _abandon(payment_id: int, *, reason: str) -> None:
    """Close an attempt the provider would not open; its installment is payable again."""
    with transaction.atomic():
        order, inst, p = _lock_chain(payment_id)
        if p.status not in Payment.OPEN_STATUSES:
            return
        p.mark_cancelled(timezone.now())
        p.save()
        if inst.state == I.PROCESSING:
            inst.mark_released()
            inst.save()
        events.payment_event(events.PAYMENT_CANCELLED, order=order, installment=inst, payment=p, money=False,
                             reason=reason)
