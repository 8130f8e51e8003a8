from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.fields import MoneyDisplayField, StrictCharField, StrictDecimalField
from core.money import quantize
from payments.models import Installment, Payment, Refund


@extend_schema_field(OpenApiTypes.STR)
class MoneyField(serializers.Field):
    """A decimal string with the currency's own number of places ("1200.00" CNY, "10000" JPY)."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, obj):
        return str(quantize(obj.amount, obj.currency))


class InstallmentSerializer(serializers.ModelSerializer):
    stage_code = serializers.CharField(source="stage.definition.code", read_only=True)
    amount = MoneyField()
    amount_display = MoneyDisplayField()

    class Meta:
        model = Installment
        fields = ["id", "order", "stage", "stage_code", "position", "amount", "amount_display", "currency", "timing",
                  "state",
                  "refundable", "due_at", "paid_at"]
        read_only_fields = fields


class RefundSerializer(serializers.ModelSerializer):
    amount = MoneyField()

    class Meta:
        model = Refund
        fields = ["id", "payment", "amount", "currency", "status", "reason", "provider_refund_id", "created_at",
                  "settled_at"]
        read_only_fields = fields


class PaymentSerializer(serializers.ModelSerializer):
    amount = MoneyField()

    class Meta:
        model = Payment
        fields = ["id", "installment", "order", "provider", "provider_payment_id", "amount", "currency", "status",
                  "checkout_url", "created_at", "captured_at"]
        read_only_fields = fields


class RefundInputSerializer(serializers.Serializer):
    # A decimal string, as everywhere money comes in (a JSON number or "1e3" is refused like on order create).
    amount = StrictDecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    reason = StrictCharField(max_length=300, required=False, allow_blank=True, default="")


class WebhookAckSerializer(serializers.Serializer):
    status = serializers.CharField()
    result = serializers.CharField()
