"""Phone numbers: stored and looked up in E.164 only (`+8613800000001`).

Whatever a person types — `13800000001`, ` +86 138-0000-0001 `, `0086 138 0000 0001` — is parsed with
Google's libphonenumber (the `phonenumbers` package) and kept in its E.164 form, so one number is one
string and finds one account. A number written without its country code is read in
`settings.DEFAULT_PHONE_REGION` (an ISO 3166 code, "CN" by default). A number the library does not
recognise as valid for its country, or one with an extension, is refused with `InvalidPhone`.
"""

from __future__ import annotations

import phonenumbers
from django.conf import settings

# Longer input is not a phone number, whatever its formatting (the library's own cap is 250).
MAX_INPUT_LENGTH = 64

INVALID_MESSAGE = "Not a valid phone number (include the country code, e.g. +86, for a number from abroad)."


class InvalidPhone(ValueError):
    """The text is not a valid phone number."""

    def __init__(self, message: str = INVALID_MESSAGE):
        super().__init__(message)
        self.message = message


def normalize_phone(raw: str, *, region: str | None = None) -> str:
    """The E.164 form of `raw`, read in `region` (default: settings.DEFAULT_PHONE_REGION) when it has no
    country code. Raises InvalidPhone when it is not a valid number."""
    text = (raw or "").strip()
    if not text or len(text) > MAX_INPUT_LENGTH:
        raise InvalidPhone()
    try:
        number = phonenumbers.parse(text, region or settings.DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException:
        raise InvalidPhone() from None
    if number.extension:
        raise InvalidPhone("A consumer's phone cannot have an extension.")
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone()
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_e164(value: str) -> bool:
    """Whether `value` is already stored the way normalize_phone would store it."""
    try:
        return normalize_phone(value, region="ZZ") == value
    except InvalidPhone:
        return False


def phone_or_none(text: str) -> str | None:
    """The E.164 form of `text` when it is a valid phone number, else None (for search boxes)."""
    try:
        return normalize_phone(text)
    except InvalidPhone:
        return None
