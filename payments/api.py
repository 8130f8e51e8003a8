"""Payments API: thin views that validate, call one service and serialize."""

import io

import segno
from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import Conflict
from core.schema import ErrorSerializer
from payments import services
from payments.models import Payment, Refund
from payments.selectors import installments_with_channels
from payments.serializers import (
    InstallmentSerializer,
    PayInputSerializer,
    PaymentSerializer,
    PayResultSerializer,
    RefundInputSerializer,
    RefundSerializer,
    WebhookAckSerializer,
    payment_action,
)
from tenancy.models import User
from tenancy.policy import RolePermission
from tenancy.scoping import ScopedQuerysetMixin

Role = User.Role


class InstallmentViewSet(ScopedQuerysetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                         viewsets.GenericViewSet):
    """Installments of the orders the caller may see. `?order=<id>` narrows to one order."""

    queryset = installments_with_channels().order_by("order_id", "position", "pk")
    serializer_class = InstallmentSerializer
    filterset_fields = ["order", "state"]
    permission_classes = [RolePermission]
    # Consumers pay; store staff may open the attempt for them. Nobody else ever pays (403).
    policy_actions = {"pay": "pay"}

    @extend_schema(request=PayInputSerializer, responses={
        200: OpenApiResponse(PayResultSerializer, description="The attempt already open through this channel."),
        201: OpenApiResponse(PayResultSerializer, description="A new attempt, opened at the provider."),
        400: OpenApiResponse(ErrorSerializer, description=(
            "`channel_unavailable` (with `channel`): the brand has no account for the channel, or the channel "
            "cannot take the installment's currency (Alipay and WeChat Pay: CNY only); `channel_required`; "
            "`provider_refused` (the provider would not open it; the attempt is closed)")),
        409: OpenApiResponse(ErrorSerializer, description="`invalid_transition`: the installment is not due."),
        503: OpenApiResponse(ErrorSerializer, description=(
            "`provider_unavailable`: the provider could not be reached; the attempt stays open, paying again "
            "through the same channel tries again.")),
    })
    @action(detail=True, methods=["post"])
    def pay(self, request, pk=None):
        """Start paying a due installment through a channel: opens a payment attempt at the brand's account, or
        returns the one already open through that channel (201 when opened now, 200 when it was open); one open
        through another channel is closed first. The answer's `action` tells the payer's client what to do. The
        consumer of the order pays; store staff may open the attempt for the consumer (to hand over the link or
        the QR code)."""
        installment = self.get_object()
        data = PayInputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        payer = services.Payer(openid=data.validated_data["openid"], client_ip=request.META.get("REMOTE_ADDR", ""),
                               return_url=data.validated_data["return_url"])
        result = services.installment_pay(installment=installment, actor=request.user,
                                          channel=data.validated_data.get("channel", ""), payer=payer)
        body = {"payment": PaymentSerializer(result.payment, context={"request": request}).data,
                "action": payment_action(result.payment, request)}
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class PaymentViewSet(ScopedQuerysetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Payment.objects.order_by("-created_at", "-pk")
    serializer_class = PaymentSerializer
    filterset_fields = ["order", "installment", "status"]
    permission_classes = [RolePermission]
    policy_actions = {"refund": "refund"}

    @extend_schema(responses={
        (200, "image/svg+xml"): OpenApiTypes.BINARY,
        409: OpenApiResponse(ErrorSerializer, description="`no_qr_code`: the payment is not an open QR payment."),
    })
    @action(detail=True, methods=["get"], url_path="qr", url_name="qr")
    def qr(self, request, pk=None):
        """The open payment's `code_url` as a QR code (SVG), for the payer to scan with WeChat (wechat_native)."""
        payment = self.get_object()
        action_ = payment_action(payment) or {}
        if action_.get("type") != "qr" or not action_.get("code_url"):
            raise Conflict("This payment has no QR code to show: it is not an open QR payment.", code="no_qr_code")
        buffer = io.BytesIO()
        segno.make(action_["code_url"], error="m").save(buffer, kind="svg", scale=6, border=2, xmldecl=False)
        response = HttpResponse(buffer.getvalue(), content_type="image/svg+xml")
        response["Cache-Control"] = "private, no-store"
        return response

    @extend_schema(request=RefundInputSerializer, responses={
        201: OpenApiResponse(RefundSerializer, description="The provider answered: `succeeded` or `failed`."),
        202: OpenApiResponse(RefundSerializer, description=(
            "Recorded and still `pending`: the provider will notify the outcome, or could not be reached and "
            "the refund is sent again in the background. It counts against what is refundable meanwhile.")),
        409: OpenApiResponse(ErrorSerializer, description=(
            "`refund_exceeds_captured` (with `refundable`), or `invalid_transition` (the payment is not captured).")),
    })
    @action(detail=True, methods=["post"])
    def refund(self, request, pk=None):
        """Refund part or all of a captured payment (store staff). Never more than what is left.
        201 when the provider settled it; 202 while it is pending (the payment's status shows when it is done)."""
        payment = self.get_object()
        data = RefundInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        refund = services.payment_refund(payment=payment, amount=data.validated_data["amount"],
                                         actor=request.user, reason=data.validated_data["reason"])
        pending = refund.status == Refund.Status.PENDING
        return Response(RefundSerializer(refund).data,
                        status=status.HTTP_202_ACCEPTED if pending else status.HTTP_201_CREATED)


class RawBodyParser(BaseParser):
    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read()


@method_decorator(csrf_exempt, name="dispatch")
class WebhookView(APIView):
    """A provider's signed notification. No authentication: the signature is the authentication."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [RawBodyParser]

    @extend_schema(
        request={"application/json": {"type": "object"}},
        parameters=[OpenApiParameter("provider", str, OpenApiParameter.PATH)],
        responses={200: WebhookAckSerializer,
                   400: OpenApiResponse(ErrorSerializer, description="bad or stale signature"),
                   404: OpenApiResponse(ErrorSerializer, description="unknown provider")},
    )
    def post(self, request, provider: str):
        result = services.webhook_receive(provider=provider, headers=request.headers, raw_body=request.body)
        return Response({"status": result.status, "result": result.result})
