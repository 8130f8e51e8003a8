"""Strict input fields: JSON input of the wrong type is refused, as the OpenAPI schema says.

DRF coerces: a CharField takes 0 as "0", a BooleanField takes "yes", 1 or "on". Where the schema (and so a
client) is told `string` or `boolean`, these fields accept exactly that type.
"""

import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core import display


class StrictCharField(serializers.CharField):
    default_error_messages = {"not_a_string": _("Not a valid string.")}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"not_a_boolean": _("Must be true or false.")}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("not_a_boolean")
        return data


class StrictDecimalField(serializers.DecimalField):
    """A decimal given as a JSON string of digits ("12.50"), as the schema's pattern says; a JSON number, an
    exponent ("1e3"), "NaN" and "Infinity" are refused."""

    default_error_messages = {"not_a_string": _("Give the number as a string, e.g. \"12.50\"."),
                              "not_plain": _("Give the number as plain digits, e.g. \"12.50\".")}
    PLAIN = re.compile(r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)")  # what the schema's decimal pattern admits

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        if not self.PLAIN.fullmatch(data.strip()):
            self.fail("not_plain")
        return super().to_internal_value(data)


class StrictSlugField(StrictCharField, serializers.SlugField):
    pass


class AwareDateTimeField(serializers.DateTimeField):
    """A date-time with its UTC offset, as the schema's `date-time` (RFC 3339) and the API contract say. A naive
    one is refused: DRF would read it in the server's TIME_ZONE, which is not the store's nor the phone's."""

    default_error_messages = {"naive": "Give the time with its UTC offset (ISO 8601), e.g. 2026-03-02T09:00:00+08:00."}
    keep_offset = False  # True: kept with the offset it was sent with, not converted to the server's zone

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            self.fail("naive")
        return value if self.keep_offset else super().enforce_timezone(value)



@extend_schema_field(OpenApiTypes.STR)
class MoneyDisplayField(serializers.Field):
    """An amount as the caller reads it, in their language (core/display.py): "¥12,000.00", "CN¥12,000.00". For
    showing only; the decimal string beside it is the amount to compute with."""

    def __init__(self, *, amount: str = "amount", currency: str = "currency", **kwargs):
        kwargs.setdefault("help_text", _("The amount as people read it, in the caller's language (display only)."))
        super().__init__(source="*", read_only=True, **kwargs)
        self.amount_attr, self.currency_attr = amount, currency

    def to_representation(self, obj):
        return display.money(getattr(obj, self.amount_attr), getattr(obj, self.currency_attr))
@extend_schema_field({"oneOf": [{"type": "number"}, {"type": "string", "pattern": r"^-?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"}],
                      "description": "Decimal degrees, a JSON number (or the same digits as a string); rounded to "
                                     "6 places (about 0.1 m)."})
class CoordinateField(serializers.Field):
    """A latitude or longitude: a JSON number (what GPS libraries and map SDKs give) or a numeric string; kept as a
    Decimal rounded to 6 places, as the columns are. Coordinates are not money, so numbers are the norm here."""

    default_error_messages = {
        "invalid": "Give the coordinate as a number, e.g. 31.2304.",
        "min_value": "Must be at least {min_value}.",
        "max_value": "Must be at most {max_value}.",
    }
    PLACES = Decimal("0.000001")

    def __init__(self, *, bound: int, **kwargs):
        self.bound = bound
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, float, str)):
            self.fail("invalid")
        if isinstance(data, str) and not StrictDecimalField.PLAIN.fullmatch(data):  # as the schema's pattern
            self.fail("invalid")
        try:  # str() of a float is its shortest exact spelling, so 31.2304 stays 31.2304, not 31.230399999...
            value = Decimal(str(data))
        except InvalidOperation:
            self.fail("invalid")
        if not value.is_finite():
            self.fail("invalid")
        if value < -self.bound:
            self.fail("min_value", min_value=-self.bound)
        if value > self.bound:
            self.fail("max_value", max_value=self.bound)
        return value.quantize(self.PLACES, rounding=ROUND_HALF_EVEN)

    def to_representation(self, value):
        return str(Decimal(value).quantize(self.PLACES))


def latitude_field(**kwargs) -> CoordinateField:
    return CoordinateField(bound=90, **kwargs)


def longitude_field(**kwargs) -> CoordinateField:
    return CoordinateField(bound=180, **kwargs)
