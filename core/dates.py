"""The dates the API takes from clients as filters: years 2000 to 2099.

Python's datetime ends at 0001-01-01 and 9999-12-31, so a day at either end overflows as soon as a day is
added or a time zone applied (a 500). No order, visit or figure of this service lies outside these years.
"""

from datetime import date, datetime

from django.utils.functional import lazy
from django.utils.translation import gettext as _

EARLIEST = date(2000, 1, 1)
LATEST = date(2099, 12, 31)


def _out_of_range() -> str:
    return _("Give a date between %(earliest)s and %(latest)s.") % {"earliest": EARLIEST.isoformat(),
                                                                    "latest": LATEST.isoformat()}


OUT_OF_RANGE = lazy(_out_of_range, str)()  # in the language of the request that reads it
# The same range in the OpenAPI schema: clients (and the fuzzer) are told which dates are accepted.
SCHEMA = {"type": "string", "format": "date", "pattern": r"^20[0-9]{2}-[0-9]{2}-[0-9]{2}$"}
# As a query parameter: an empty value (`?date=`) is taken as absent, so the schema admits it too.
QUERY_SCHEMA = {"anyOf": [SCHEMA, {"type": "string", "maxLength": 0}]}


def in_range(value: date | datetime) -> bool:
    day = value.date() if isinstance(value, datetime) else value
    return EARLIEST <= day <= LATEST
