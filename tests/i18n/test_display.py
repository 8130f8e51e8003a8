"""Amounts, dates and phones as each language writes them (CLDR through Babel, libphonenumber): core/display.py
and its template filters."""

import zoneinfo
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import checks
from django.template import Context, Template
from django.utils import translation

from core import display
from core.checks import check_currency_places

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
# Thursday 3 December 2026, 14:00 in Shanghai.
THURSDAY_2PM = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize("amount, currency, language, shown", [
    ("12000", "CNY", "zh-hans", "¥12,000.00"),
    (Decimal("12000.00"), "CNY", "en", "CN¥12,000.00"),
    ("12000", "JPY", "en", "¥12,000"),
    ("12000", "JPY", "zh-hans", "JP¥12,000"),
    ("5000.00", "KRW", "zh-hans", "₩5,000"),  # PostgreSQL's numeric(14,2) gives 5000.00 won
    ("1200.5", "CNY", "zh-hans", "¥1,200.50"),
    ("0", "CNY", "zh-hans", "¥0.00"),
    ("-300", "CNY", "zh-hans", "-¥300.00"),
    ("19.99", "USD", "en", "$19.99"),
])
def test_money_is_written_as_the_language_writes_the_currency(amount, currency, language, shown):
    assert display.money(amount, currency, language=language) == shown


@pytest.mark.parametrize("amount", [None, "", "abc", "NaN-ish", object()])
def test_money_of_what_is_not_a_number_is_empty(amount):
    assert display.money(amount, "CNY") == ""


def test_money_follows_the_active_language():
    with translation.override("en"):
        assert display.money("1200", "CNY") == "CN¥1,200.00"
    with translation.override("zh-hans"):
        assert display.money("1200", "CNY") == "¥1,200.00"


def test_chinese_dates_and_times():
    with translation.override("zh-hans"):
        assert display.when(THURSDAY_2PM, tz=SHANGHAI) == "12月3日周四 14:00"
        assert display.window(THURSDAY_2PM, THURSDAY_2PM + timedelta(hours=2), tz=SHANGHAI) == "12月3日周四 14:00–16:00"
        assert display.day(THURSDAY_2PM, tz=SHANGHAI) == "12月3日周四"
        assert display.day(date(2026, 12, 3), year=True) == "2026年12月3日周四"
        assert display.date_long(THURSDAY_2PM, tz=SHANGHAI) == "2026年12月3日"
        assert display.clock(THURSDAY_2PM, tz=SHANGHAI) == "14:00"


def test_english_dates_and_times_as_cldr_writes_them():
    # CLDR's English separates the time from AM/PM with a narrow no-break space (U+202F).
    with translation.override("en"):
        assert display.when(THURSDAY_2PM, tz=SHANGHAI) == "Thu, Dec 3, 2:00\u202fPM"
        assert display.date_long(THURSDAY_2PM, tz=SHANGHAI) == "Dec 3, 2026"
        assert "2:00" in display.window(THURSDAY_2PM, THURSDAY_2PM + timedelta(hours=2), tz=SHANGHAI)


def test_times_are_shown_in_the_given_zone_and_iso_text_is_read():
    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    assert display.clock("2026-12-03T06:00:00+00:00", tz=tokyo, language="zh-hans") == "15:00"
    assert display.when("not a time", tz=tokyo) == "" and display.when(None) == ""


def test_a_window_over_midnight_shows_its_start():
    late = datetime(2026, 12, 3, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    assert display.window(late, late + timedelta(hours=1), tz=SHANGHAI, language="zh-hans") == "12月3日周四 23:30"


@pytest.mark.parametrize("stored, shown", [
    ("+8613800000001", "+86 138 0000 0001"),
    ("+12025550123", "+1 202-555-0123"),
    ("", ""),
    (None, ""),
    ("not a phone", "not a phone"),
])
def test_phones_as_libphonenumber_writes_them(stored, shown):
    assert display.phone(stored) == shown


def test_template_filters_use_the_same_helper_in_the_active_language(settings):
    template = Template("{% load display tz %}{% timezone tz %}{{ amount|money:currency }} · {{ at|when }} · "
                        "{{ at|window:end }} · {{ at|date_long }} · {{ phone|phone }}{% endtimezone %}")
    context = Context({"amount": Decimal("1200.00"), "currency": "CNY", "at": THURSDAY_2PM, "tz": SHANGHAI,
                       "end": THURSDAY_2PM + timedelta(hours=2), "phone": "+8613800000001"})
    with translation.override("zh-hans"):
        assert template.render(context) == ("¥1,200.00 · 12月3日周四 14:00 · 12月3日周四 14:00–16:00 · 2026年12月3日 · "
                                            "+86 138 0000 0001")
    with translation.override("en"):
        assert template.render(context).startswith("CN¥1,200.00 · Thu, Dec 3, 2:00\u202fPM")


def test_the_kept_places_and_the_shown_places_agree(settings):
    assert check_currency_places() == []
    settings.CURRENCY_DECIMALS = {**settings.CURRENCY_DECIMALS, "JPY": 2}
    errors = check_currency_places()
    assert [e.id for e in errors] == ["core.E001"] and "JPY" in errors[0].msg
    assert all(isinstance(e, checks.Error) for e in errors)
