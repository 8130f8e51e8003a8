"""Voucher endpoints: the consumer's vouchers (with code and QR), staff lists (last4 only), redeem."""

from __future__ import annotations

import io
import re

from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import Pagination
from core.filters import parse_id, valid_id
from core.schema import ErrorSerializer
from tenancy.policy import RolePermission
from vouchers import codes, crypto, selectors, services, throttle
from vouchers.models import Voucher


class VoucherSerializer(serializers.ModelSerializer):
    """A voucher. `code` and `qr_url` are filled only for the consumer who holds it."""

    stage_code = serializers.CharField(source="stage.definition.code", read_only=True)
    stage_name = serializers.CharField(source="stage.definition.name", read_only=True)
    order_number = serializers.CharField(source="order.number", read_only=True)
    code = serializers.SerializerMethodField()
    qr_url = serializers.SerializerMethodField()

    class Meta:
        model = Voucher
        fields = [
            "id", "order", "order_number", "stage", "stage_code", "stage_name", "store", "state", "last4",
            "issued_at", "valid_from", "valid_until", "redeemed_at", "redeemed_by", "redeemed_job",
            "redeemed_latitude", "redeemed_longitude", "code", "qr_url",
        ]
        read_only_fields = fields

    def _is_owner(self, obj: Voucher) -> bool:
        request = self.context.get("request")
        return request is not None and getattr(request.user, "pk", None) == obj.consumer_id

    def get_code(self, obj: Voucher) -> str | None:
        return services.voucher_code(obj) if self._is_owner(obj) else None

    def get_qr_url(self, obj: Voucher) -> str | None:
        if not self._is_owner(obj):
            return None
        request = self.context["request"]
        return request.build_absolute_uri(f"/api/v1/vouchers/{obj.pk}/qr/")


_FILTERS = [
    OpenApiParameter("state", str, enum=[s for s, _ in Voucher.State.choices]),
    OpenApiParameter("order", int), OpenApiParameter("stage", int),
]


# The filters apply to the list and the detail (get_queryset); the QR code ignores them.
@extend_schema_view(list=extend_schema(parameters=_FILTERS), retrieve=extend_schema(parameters=_FILTERS))
class VoucherViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Vouchers the caller may see: the consumer their own (with the code), store staff those of
    their stores and technicians those of their jobs' stages (never the code: `last4` only)."""

    serializer_class = VoucherSerializer
    permission_classes = [IsAuthenticated]
    pagination_class = Pagination
    queryset = Voucher.objects.none()

    def get_queryset(self):
        qs = selectors.voucher_list_visible_to(user=self.request.user)
        params = self.request.query_params
        if "state" in params:
            if params["state"] not in Voucher.State.values:
                raise serializers.ValidationError({"state": [f"One of {', '.join(Voucher.State.values)}."]})
            qs = qs.filter(state=params["state"])
        for name in ("order", "stage"):
            value = params.get(name)
            if value is not None:
                if not re.fullmatch(r"-?[0-9]+", value):
                    raise serializers.ValidationError({name: ["A number."]})
                # Any integer is a valid filter; one no object can have (<1, beyond bigint) matches nothing.
                number = int(value) if len(value) < 30 else 0
                qs = qs.filter(**{f"{name}_id": number}) if valid_id(number) else qs.none()
        return qs

    @extend_schema(responses={(200, "image/svg+xml"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"], url_path="qr", url_name="qr")
    def qr(self, request, pk=None):
        """The voucher's code as a QR code (SVG), for the consumer who holds it; 404 for anyone else."""
        voucher_id = parse_id(pk)
        if voucher_id is None:
            raise Http404
        voucher = selectors.voucher_of_consumer(user=request.user, voucher_id=voucher_id)
        if voucher is None:
            raise Http404
        code = crypto.decrypt(voucher.code_encrypted)
        if code is None:
            raise Http404
        buffer = io.BytesIO()
        codes.qr(code).save(buffer, kind="svg", scale=6, border=4, xmldecl=False)
        response = HttpResponse(buffer.getvalue(), content_type="image/svg+xml")
        response["Cache-Control"] = "private, no-store"
        return response


class RedeemInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64, trim_whitespace=True)
    job = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                   help_text="The job (appointment) id; required for technicians.")


class RedeemApi(APIView):
    """Redeem the consumer's e-voucher: a technician on the job, or staff of the voucher's store.

    400 invalid_code (typo caught by the check symbol), 404 voucher_not_found (unknown code, or
    a code of another store, brand or stage: the same answer), 409 voucher_expired,
    voucher_revoked, voucher_already_redeemed, stage_not_ready; 429 too_many_attempts with
    Retry-After after too many failed attempts. Consumers and operators never redeem (403)."""

    permission_classes = [RolePermission]
    policy_action = "redeem"

    @extend_schema(request=RedeemInputSerializer, responses={200: VoucherSerializer, 429: ErrorSerializer})
    def post(self, request):
        data = RedeemInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            voucher = services.voucher_redeem(code=data.validated_data["code"], actor=request.user,
                                              job_id=data.validated_data.get("job"))
        except throttle.RedeemLocked as locked:
            return Response({"code": locked.code, "detail": locked.detail, "retry_after": locked.retry_after},
                            status=429, headers={"Retry-After": str(locked.retry_after)})
        voucher = selectors.voucher_list_visible_to(user=request.user).filter(pk=voucher.pk).first() or voucher
        return Response(VoucherSerializer(voucher, context={"request": request}).data)
