"""Payments API: thin views that validate, call one service and serialize."""

from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.schema import ErrorSerializer
from payments import services
from payments.models import Installment, Payment, Refund
from payments.serializers import (
    InstallmentSerializer,
    PaymentSerializer,
    RefundInputSerializer,
    RefundSerializer,
    WebhookAckSerializer,
)
from tenancy.models import User
from tenancy.policy import RolePermission
from tenancy.scoping import ScopedQuerysetMixin

Role = User.Role


class InstallmentViewSet(ScopedQuerysetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                         viewsets.GenericViewSet):
    """Installments of the orders the caller may see. `?order=<id>` narrows to one order."""

    queryset = Installment.objects.select_related("stage__definition").order_by("order_id", "position", "pk")
    serializer_class = InstallmentSerializer
    filterset_fields = ["order", "state"]
    permission_classes = [RolePermission]
    # Consumers pay; store staff may open the attempt for them. Nobody else ever pays (403).
    policy_actions = {"pay": "pay"}

    @extend_schema(request=None, responses={200: PaymentSerializer, 201: PaymentSerializer})
    @action(detail=True, methods=["post"])
    def pay(self, request, pk=None):
        """Start paying a due installment: opens a payment attempt, or returns the one already open
        (201 when opened now, 200 when it was open). The consumer of the order pays; store staff may
        open the attempt for the consumer (to hand over the checkout link)."""
        result = services.installment_pay(installment=self.get_object(), actor=request.user)
        return Response(PaymentSerializer(result.payment).data,
                        status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class PaymentViewSet(ScopedQuerysetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Payment.objects.order_by("-created_at", "-pk")
    serializer_class = PaymentSerializer
    filterset_fields = ["order", "installment", "status"]
    permission_classes = [RolePermission]
    policy_actions = {"refund": "refund"}

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
