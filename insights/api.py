"""GET /api/v1/platform/metrics/: the platform's figures, for operators and merchant staff."""

from datetime import datetime, time, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core import dates
from core.replica import replica_reads
from core.schema import empty_or
from insights.selectors import metrics_access, platform_metrics


def _moment(value: str, *, end: bool) -> datetime:
    """A date (whole day, in the site's time zone; `to` is inclusive) or an ISO 8601 date-time."""
    try:
        day = parse_date(value) if len(value) == 10 else None
    except ValueError:
        raise serializers.ValidationError(_("Not a valid date.")) from None
    if day is not None:
        if not dates.in_range(day):
            raise serializers.ValidationError(dates.OUT_OF_RANGE)
        if end:
            day += timedelta(days=1)
        return timezone.make_aware(datetime.combine(day, time.min))
    try:
        moment = parse_datetime(value)
    except ValueError:
        moment = None
    if moment is None:
        raise serializers.ValidationError(_("Use YYYY-MM-DD or an ISO 8601 date-time."))
    if not dates.in_range(moment):
        raise serializers.ValidationError(dates.OUT_OF_RANGE)
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


class MetricsFilterSerializer(serializers.Serializer):
    merchant = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
    store = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
    technician = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)

    def validate(self, attrs):
        raw = self.initial_data
        errors = {}
        for key, end in (("from", False), ("to", True)):
            value = raw.get(key)
            if value:
                try:
                    attrs[key] = _moment(str(value)[:64], end=end)
                except serializers.ValidationError as exc:
                    errors[key] = exc.detail
        if not errors and attrs.get("from") and attrs.get("to") and attrs["from"] >= attrs["to"]:
            errors["to"] = ["Must be after 'from'."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


# As MetricsFilterSerializer checks; `?store=` is read as no store filter, as on the lists.
_ID = empty_or({"type": "integer", "minimum": 1, "maximum": 2**31 - 1})
_PARAMS = [
    OpenApiParameter("merchant", _ID, description="Merchant id (operators; others: their own)."),
    OpenApiParameter("store", _ID, description="Store id."),
    OpenApiParameter("technician", _ID, description="Technician user id."),
    OpenApiParameter("from", OpenApiTypes.STR, description="YYYY-MM-DD or ISO date-time, inclusive."),
    OpenApiParameter("to", OpenApiTypes.STR, description="YYYY-MM-DD (inclusive day) or ISO date-time (exclusive)."),
]


class PlatformMetricsApi(APIView):
    """On-time arrival, check-ins outside the radius, stage duration percentiles, SLA breaches, rework
    rounds and money (paid, refunded, outstanding), over the caller's visible orders.

    `stage_durations[].p50_seconds` / `p90_seconds` are approximate: within 2.5 % of the exact continuous
    percentile (interpolated from histograms with 5 %-wide log-spaced buckets; ADR 0007).

    Operators see every merchant; a merchant admin its merchant; a store manager its stores. Technicians
    and consumers get 403; merchants whose tier has no metrics get 403 `tier_limit`. A merchant, store
    or technician filter the caller may not see answers 404.

    Money (`payments`, per currency): `paid` and `refunded` are the ledger entries of the period; `outstanding` and
    `due_now` are what the active orders owe now, from a snapshot the platform takes every 15 minutes:
    `outstanding_as_of` is the snapshot's time (never more than 30 minutes old), or null when it was read for this
    request (no recent snapshot, or a technician filter).
    """

    @extend_schema(parameters=_PARAMS, responses={200: OpenApiTypes.OBJECT})
    @replica_reads()
    def get(self, request):
        metrics_access(request.user)
        params = MetricsFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        return Response(platform_metrics(
            user=request.user, merchant=data.get("merchant"), store=data.get("store"),
            technician=data.get("technician"), date_from=data.get("from"), date_to=data.get("to"),
        ))
