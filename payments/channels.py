"""The ways a consumer can pay (the contract's `channel`), and which of them a brand offers.

A channel belongs to one provider: the sandbox (the demo's default, offered to every brand while
PAYMENT_SANDBOX_ENABLED), Alipay (an account of the brand's: mobile web `alipay_wap`, computer `alipay_page`) or
WeChat Pay (an account of the brand's: `wechat_jsapi` inside WeChat with the payer's openid, `wechat_native` as a
QR code, `wechat_h5` in a phone browser). Alipay and WeChat Pay take CNY only.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext_lazy as _

SANDBOX = "sandbox"


@dataclass(frozen=True)
class Channel:
    name: str
    provider: str
    action: str  # what the payer's client gets: "redirect", "qr" or "jsapi"
    label: object
    currencies: tuple[str, ...] | None = None  # None: any currency
    needs_openid: bool = False

    def takes(self, currency: str) -> bool:
        return self.currencies is None or currency.upper() in self.currencies


CHANNELS: dict[str, Channel] = {c.name: c for c in (
    Channel(SANDBOX, "sandbox", "redirect", _("Sandbox (test payments, no money moves)")),
    Channel("alipay_wap", "alipay", "redirect", _("Alipay on the phone"), ("CNY",)),
    Channel("alipay_page", "alipay", "redirect", _("Alipay on a computer"), ("CNY",)),
    Channel("wechat_jsapi", "wechatpay", "jsapi", _("WeChat Pay inside WeChat"), ("CNY",), needs_openid=True),
    Channel("wechat_native", "wechatpay", "qr", _("WeChat Pay QR code"), ("CNY",)),
    Channel("wechat_h5", "wechatpay", "redirect", _("WeChat Pay in a phone browser"), ("CNY",)),
)}


def sandbox_enabled() -> bool:
    return bool(getattr(settings, "PAYMENT_SANDBOX_ENABLED", True))


def provider_channels(provider: str) -> list[str]:
    return [c.name for c in CHANNELS.values() if c.provider == provider]


def channels_for(providers, currency: str) -> list[str]:
    """The channels offered by a brand whose active accounts are at `providers`, for an amount in `currency`: the
    sandbox first (while enabled), then each provider's channels in CHANNELS order."""
    providers = set(providers)
    if sandbox_enabled():
        providers.add("sandbox")
    return [c.name for c in CHANNELS.values() if c.provider in providers and c.takes(currency)]


# The channels' names in order (the OpenAPI schema's one enum of them: SPECTACULAR_SETTINGS ENUM_NAME_OVERRIDES).
CHANNEL_NAMES = list(CHANNELS)
