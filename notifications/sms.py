"""SMS channel: a small backend interface, chosen by settings.SMS_BACKEND (a dotted path).

A backend's `send(phone, message, reference=...)` returns a provider reference (any string) or raises
`SMSDeliveryError` for a failure worth retrying (provider down, timeout) or `SMSRejected` for one
that retrying will not fix (invalid number). `reference` is the same for every attempt at one
notification: pass it as the provider's client reference (Aliyun's OutId, say) so a provider that
deduplicates on it drops a message sent twice. `kind` (the message kind, "order.created") and `params` (the
message's variables as text) are for providers that send pre-approved templates rather than free text (China's).
"""

from __future__ import annotations

import logging
from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger("notifications.sms")


class SMSDeliveryError(Exception):
    """The message could not be handed over now; a later attempt may succeed."""


class SMSRejected(Exception):
    """The provider refused the message for good (bad number, say)."""


# GSM 03.38's basic set (and its extension table, two septets each): a text of these alone is sent 7-bit.
GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
           "¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENDED = set("^{}\\[~]|€")


def segments(text: str) -> int:
    """How many SMS parts `text` is sent as: 160 GSM characters in one part (153 per part when split), or, with
    any other character (Chinese), 70 UCS-2 characters in one (67 per part; a character outside the BMP counts
    two)."""
    if all(ch in GSM7 or ch in GSM7_EXTENDED for ch in text):
        units, single, part = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text), 160, 153
    else:
        units, single, part = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text), 70, 67
    return 1 if units <= single else -(-units // part)


def mask_phone(phone: str) -> str:
    """Only the last 4 digits of a phone number ever reach a log line."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return f"***{digits[-4:]}" if digits else "***"


class BaseSMSBackend:
    def send(self, phone: str, message: str, *, reference: str, kind: str = "",
             params: dict | None = None) -> str:  # pragma: no cover - interface
        raise NotImplementedError


class LoggingSMSBackend(BaseSMSBackend):
    """The default: writes the message to the log (with the phone's last 4 digits only)."""

    def send(self, phone: str, message: str, *, reference: str, kind: str = "", params: dict | None = None) -> str:
        masked = mask_phone(phone)
        logger.info("SMS %s to %s (%s part(s)): %s", reference, masked, segments(message), message)
        return f"log:{masked}"


@lru_cache(maxsize=8)
def _backend_class(path: str) -> type[BaseSMSBackend]:
    cls = import_string(path)
    if not (isinstance(cls, type) and issubclass(cls, BaseSMSBackend)):
        raise TypeError(f"SMS_BACKEND {path!r} is not a BaseSMSBackend")
    return cls


def get_sms_backend() -> BaseSMSBackend:
    return _backend_class(getattr(settings, "SMS_BACKEND", "notifications.sms.LoggingSMSBackend"))()
