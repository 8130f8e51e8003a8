"""Template filters for amounts, dates and phones, in the active language (core/display.py does the work).

    {% load display %}
    {{ installment.amount|money:installment.currency }}   ¥1,200.00 / CN¥1,200.00
    {{ visit.window_start|when }}                          12月3日周四 14:00 / Thu, Dec 3, 2:00 PM
    {{ visit.window_start|window:visit.window_end }}       12月3日周四 14:00–16:00
    {{ voucher.valid_until|date_long }}                    2026年12月3日 / Dec 3, 2026
    {{ consumer.phone|phone }}                             +86 138 0000 0001

Times are shown in the current time zone: wrap the page in `{% timezone store_tz %}` (the store's).
"""

from django import template

from core import display

register = template.Library()


@register.filter
def money(amount, currency):
    return display.money(amount, currency or "")


@register.filter
def when(value):
    return display.when(value)


@register.filter
def window(start, end):
    return display.window(start, end)


@register.filter
def day(value):
    return display.day(value)


@register.filter
def date_long(value):
    return display.date_long(value)


@register.filter
def clock(value):
    return display.clock(value)


@register.filter
def phone(value):
    return display.phone(value)
