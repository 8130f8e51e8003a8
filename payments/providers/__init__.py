"""Provider registry. A payment names its provider (`Payment.provider`) and, for a real one, the brand's account
(`Payment.account`): its notifications, refunds and queries use that account's keys. Notifications are accepted
for every registered provider (payments started before an account changed still settle)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext as _

from core.errors import NotFound
from payments.providers.alipay import AlipayProvider
from payments.providers.base import PaymentProvider
from payments.providers.sandbox import SandboxProvider
from payments.providers.wechatpay import WeChatPayProvider

if TYPE_CHECKING:
    from payments.models import PaymentAccount

PROVIDERS: dict[str, type[PaymentProvider]] = {
    SandboxProvider.name: SandboxProvider,
    AlipayProvider.name: AlipayProvider,
    WeChatPayProvider.name: WeChatPayProvider,
}


def get_provider(name: str, account: PaymentAccount | None = None) -> PaymentProvider:
    cls = PROVIDERS.get(name)
    if cls is None:
        raise NotFound(_("No payment provider '%(name)s'.") % {"name": name[:40]})
    return cls(account)


def provider_for(payment) -> PaymentProvider:
    """The provider of a payment, with the brand's account it was made with."""
    return get_provider(payment.provider, payment.account if payment.account_id else None)
