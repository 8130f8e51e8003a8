"""Amounts, dates and phone numbers for people, in the reader's language: the one place that formats them.

Formats come from CLDR (Babel) and libphonenumber, never from hand-written patterns: the same amount reads
"¥12,000.00" in Chinese and "CN¥12,000.00" in English, 12,000 yen "¥12,000" in English and "JP¥12,000" in
Chinese; 3 December 2026 at 14:00 reads "12月3日周四 14:00" / "Thu, Dec 3, 2:00 PM". Every caller (the API's
display fields, the template filters of `core/templatetags/display.py`, the messages) goes through here, so a
page and the SMS about it never disagree. Arithmetic stays in core/money.py: this module only shows amounts.

`language` is a Django language code ("zh-hans", "en"); without it, the active language (the request's or the
message recipient's, see core/language.py).
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import phonenumbers
from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from django.conf import settings
from django.utils import timezone, translation

from core.money import quantize


@lru_cache(maxsize=32)
def _locale(language: str) -> Locale:
    try:
        return Locale.parse(translation.to_locale(language))
    except (UnknownLocaleError, ValueError):
        return Locale.parse(translation.to_locale(settings.LANGUAGE_CODE))


def locale_for(language: str | None = None) -> Locale:
    """The CLDR locale of a Django language code (the active language by default)."""
    return _locale(language or translation.get_language() or settings.LANGUAGE_CODE)


# --- money -----------------------------------------------------------------------------------------


def money(amount, currency: str, *, language: str | None = None) -> str:
    """An amount with the currency's symbol as the reader's locale writes it, in the currency's places:
    "¥12,000.00", "CN¥12,000.00", "¥12,000". "" when `amount` is not a number.

    The places are CLDR's for the currency, which are settings.CURRENCY_DECIMALS' for every currency the service
    takes (core.checks says so at start, so an amount is never shown with other places than it is kept in)."""
    try:
        value = quantize(Decimal(str(amount)), currency)
    except (ArithmeticError, InvalidOperation, ValueError, TypeError):
        return ""
    return babel_numbers.format_currency(value, (currency or "").upper(), locale=locale_for(language))


# --- dates and times -------------------------------------------------------------------------------


def _aware(value: datetime | str | None, tz: tzinfo | None) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    return value.astimezone(tz or timezone.get_current_timezone())


def day(value: date | datetime | str | None, *, tz: tzinfo | None = None, language: str | None = None,
        year: bool = False) -> str:
    """A day with its weekday: "12月3日周四" / "Thu, Dec 3" (with the year: "2026年12月3日周四")."""
    if isinstance(value, datetime | str):
        value = _aware(value, tz)
    if not isinstance(value, date):
        return ""
    return babel_dates.format_skeleton("yMMMEd" if year else "MMMEd", value, locale=locale_for(language))


def date_long(value: date | datetime | str | None, *, tz: tzinfo | None = None, language: str | None = None) -> str:
    """A calendar date with its year: "2026年12月3日" / "Dec 3, 2026"."""
    if isinstance(value, datetime | str):
        value = _aware(value, tz)
    if not isinstance(value, date):
        return ""
    return babel_dates.format_skeleton("yMMMd", value, locale=locale_for(language))


def clock(value: datetime | str | None, *, tz: tzinfo | None = None, language: str | None = None) -> str:
    """A time of day in the locale's short form: "14:00" / "2:00 PM"."""
    value = _aware(value, tz)
    if value is None:
        return ""
    return babel_dates.format_time(value, "short", tzinfo=value.tzinfo, locale=locale_for(language))


def when(value: datetime | str | None, *, tz: tzinfo | None = None, language: str | None = None) -> str:
    """A moment as people read it: weekday, day and time in `tz` (default: the current time zone), joined as
    the locale joins them: "12月3日周四 14:00" / "Thu, Dec 3, 2:00 PM". "" for anything that is not a time."""
    value = _aware(value, tz)
    if value is None:
        return ""
    glue = babel_dates.get_datetime_format("short", locale=locale_for(language))
    return str(glue).replace("{1}", day(value, language=language)).replace(
        "{0}", clock(value, tz=value.tzinfo, language=language))


def window(start: datetime | str | None, end: datetime | str | None, *, tz: tzinfo | None = None,
           language: str | None = None) -> str:
    """A visit's time window: "12月3日周四 14:00–16:00" / "Thu, Dec 3, 2:00 – 4:00 PM" (CLDR interval)."""
    start, end = _aware(start, tz), _aware(end, tz)
    if start is None:
        return ""
    if end is None or end.date() != start.date():
        return when(start, tz=tz, language=language)
    locale = locale_for(language)
    time_skeleton = "Hm" if "H" in str(babel_dates.get_time_format("short", locale=locale)) else "hm"
    times = babel_dates.format_interval(start, end, time_skeleton, tzinfo=start.tzinfo, locale=locale)
    glue = babel_dates.get_datetime_format("short", locale=locale)
    return str(glue).replace("{1}", day(start, language=language)).replace("{0}", times)


# --- phones ----------------------------------------------------------------------------------------


def phone(value: str | None) -> str:
    """A stored (E.164) phone number as libphonenumber writes it internationally: "+86 138 0000 0001". Text that
    is not a number is returned as it is."""
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, settings.DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException:
        return value
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
