"""List filters: a related object is filtered by its id, never looked up.

django-filter's default for a foreign key (or many-to-many) in `filterset_fields` is a ModelChoiceFilter over
*every* row of the related table: an id that exists (even another tenant's) filters to an empty page, an
id that does not answers 400 "not one of the available choices" - an oracle for which ids exist, and a
400 for input the schema calls valid. Here such a filter takes any integer: an id the caller cannot see,
or that exists nowhere, simply matches nothing.
"""

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.db import models
from django.db.models import Q
from django_filters import filters, filterset
from django_filters.rest_framework import DjangoFilterBackend, FilterSet
from drf_spectacular.utils import extend_schema_field

from core import dates

MAX_ID = 2**63 - 1  # the largest id a bigint primary key can hold


def valid_id(value) -> bool:
    return value is not None and 1 <= value <= MAX_ID


def parse_id(text) -> int | None:
    """The id a path or query text names (ASCII digits, 1 to MAX_ID), else None: `"²".isdigit()` is true and
    `int()` of 5,000 digits raises, so neither test alone keeps odd input from becoming a 500."""
    text = str(text)
    if not re.fullmatch(r"[0-9]{1,19}", text):
        return None
    value = int(text)
    return value if valid_id(value) else None


class _WholeNumberField(forms.IntegerField):
    """An integer written as digits: Django's IntegerField also takes "1.0" as 1 (it strips a decimal point and
    zeros), which the schema's integer does not allow, so `?store=0.0` answered 200 instead of 400."""

    def to_python(self, value):
        if value not in self.empty_values and not re.fullmatch(r"\s*[+-]?[0-9]+\s*", str(value)):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class IdFilter(filters.NumberFilter):
    field_class = _WholeNumberField

    def filter(self, qs, value):
        if value is None:
            return qs
        if not valid_id(value):
            return qs.none()
        return super().filter(qs, value)


class _IdsField(forms.TypedMultipleChoiceField):
    """Several integers (`?stores=1&stores=2`); any integer is a valid choice."""

    def __init__(self, *args, **kwargs):
        kwargs.pop("choices", None)
        super().__init__(*args, coerce=int, **kwargs)

    def valid_value(self, value):
        return True


class IdsFilter(filters.MultipleChoiceFilter):
    field_class = _IdsField

    def filter(self, qs, value):
        if not value:
            return qs
        ids = [v for v in value if valid_id(v)]
        if not ids:
            return qs.none()
        return qs.filter(**{f"{self.field_name}__in": ids}).distinct()


class _DayField(forms.DateField):
    def clean(self, value):
        day = super().clean(value)
        if day is not None and not dates.in_range(day):
            raise forms.ValidationError(dates.OUT_OF_RANGE)
        return day


@extend_schema_field(dates.QUERY_SCHEMA)
class StoreDayFilter(filters.DateFilter):
    """`?date=YYYY-MM-DD`: the rows whose `field_name` (a date-time) falls on that day in their own store's
    time zone, as the store's staff and the consumer read its clock. One small query finds the zones."""

    field_class = _DayField

    def __init__(self, *args, store_path: str = "store", **kwargs):
        super().__init__(*args, **kwargs)
        self.store_path = store_path

    def filter(self, qs, value):
        if value is None:
            return qs
        zone_field = f"{self.store_path}__timezone"
        zones = sorted(set(qs.order_by().values_list(zone_field, flat=True).distinct()))
        day = Q(pk__in=[])
        for zone in zones:
            tz = ZoneInfo(zone)
            start = datetime.combine(value, time.min, tzinfo=tz)
            end = datetime.combine(value + timedelta(days=1), time.min, tzinfo=tz)
            day |= Q(**{zone_field: zone, f"{self.field_name}__gte": start, f"{self.field_name}__lt": end})
        return qs.filter(day)


class IdFilterSet(FilterSet):
    FILTER_DEFAULTS = {
        **filterset.FILTER_FOR_DBFIELD_DEFAULTS,
        models.ForeignKey: {"filter_class": IdFilter},
        models.OneToOneField: {"filter_class": IdFilter},
        models.ManyToManyField: {"filter_class": IdsFilter},
    }


class FilterBackend(DjangoFilterBackend):
    filterset_base = IdFilterSet
