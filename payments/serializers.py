from rest_framework import serializers

from payments.models import Installment, Payment, Refund


class InstallmentSerializer(serializers.ModelSerializer):
    stage_code = serializers.CharField(source="stage.definition.code", read_only=True)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=True, read_only=True)

    class Meta:
        model = Installment
        fields = ["id", "order", "stage", "stage_code", "position", "amount", "currency", "timing", "state",
                  "refundable", "due_at", "paid_at"]
        read_only_fields = fields


class RefundSerializer(serializers.ModelSerializer):
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=True, read_only=True)

    class Meta:
        model = Refund
        fields = ["id", "payment", "amount", "currency", "status", "reason", "provider_refund_id", "created_at",
                  "settled_at"]
        read_only_fields = fields


class PaymentSerializer(serializers.ModelSerializer):
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=True, read_only=True)

    class Meta:
        model = Payment
        fields = ["id", "installment", "order", "provider", "provider_payment_id", "amount", "currency", "status",
                  "checkout_url", "created_at", "captured_at"]
        read_only_fields = fields


class RefundInputSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0)
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class WebhookAckSerializer(serializers.Serializer):
    status = serializers.CharField()
    result = serializers.CharField()
