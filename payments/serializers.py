from decimal import Decimal

from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.fields import MoneyDisplayField, StrictCharField, StrictDecimalField
from core.money import quantize
from payments.channels import CHANNELS, channels_for
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
    channels = serializers.SerializerMethodField(help_text=(
        "The payment channels the order's brand offers for this installment's currency (pass one as `channel` to "
        "pay/)."))

    class Meta:
        model = Installment
        fields = ["id", "order", "stage", "stage_code", "position", "amount", "amount_display", "currency", "timing",
                  "state", "refundable", "due_at", "paid_at", "channels"]
        read_only_fields = fields

    def get_channels(self, obj: Installment) -> list[str]:
        # The brand's active accounts are prefetched (payments.selectors.installments_with_channels): no query here.
        return channels_for([a.provider for a in obj.order.merchant.active_payment_accounts], obj.currency)


class RefundSerializer(serializers.ModelSerializer):
    amount = MoneyField()

    class Meta:
        model = Refund
        fields = ["id", "payment", "amount", "currency", "status", "reason", "provider_refund_id", "created_at",
                  "settled_at"]
        read_only_fields = fields


class PaymentActionSerializer(serializers.Serializer):
    """What the payer's client does next: open `url` (redirect), show `code_url` as a QR code (qr: `qr_svg_url`
    is that QR code as SVG) or call `wx.requestPayment` with `params` (jsapi)."""

    type = serializers.ChoiceField(choices=["redirect", "qr", "jsapi"])
    url = serializers.CharField(required=False)
    code_url = serializers.CharField(required=False)
    qr_svg_url = serializers.CharField(required=False)
    params = serializers.DictField(child=serializers.CharField(), required=False)


def payment_action(payment: Payment, request=None) -> dict | None:
    """The open attempt's action (None once it is closed: nothing is left to do)."""
    if not payment.is_open:
        return None
    action = dict(payment.action or {})
    if not action and payment.checkout_url:
        action = {"type": "redirect", "url": payment.checkout_url}
    if action.get("type") == "qr":
        path = reverse("payment-qr", kwargs={"pk": payment.pk})
        action["qr_svg_url"] = request.build_absolute_uri(path) if request is not None else path
    return action or None


class PaymentSerializer(serializers.ModelSerializer):
    amount = MoneyField()
    action = serializers.SerializerMethodField()

    class Meta:
        model = Payment
        fields = ["id", "installment", "order", "provider", "channel", "provider_payment_id", "amount", "currency",
                  "status", "checkout_url", "action", "created_at", "captured_at"]
        read_only_fields = fields

    @extend_schema_field(PaymentActionSerializer(allow_null=True))
    def get_action(self, obj: Payment) -> dict | None:
        return payment_action(obj, self.context.get("request"))


class PayInputSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=list(CHANNELS), required=False, help_text=(
        "How the payer pays; the order detail's `payment_channels` and each installment's `channels` list what "
        "the brand offers. Without it: the sandbox, where it is enabled."))
    openid = StrictCharField(max_length=128, required=False, default="",
                             help_text="The payer's openid at the brand's WeChat AppID (wechat_jsapi).")
    return_url = StrictCharField(max_length=500, required=False, default="", help_text=(
        "Where the payer's browser goes after paying (redirect channels): a path or URL on this site."))

    def validate_return_url(self, value: str) -> str:
        if not value:
            return ""
        request = self.context["request"]
        if not url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
            raise serializers.ValidationError(_("A path or URL on this site."))
        return request.build_absolute_uri(value)


class PayResultSerializer(serializers.Serializer):
    payment = PaymentSerializer()
    action = PaymentActionSerializer()


class RefundInputSerializer(serializers.Serializer):
    # A decimal string, as everywhere money comes in (a JSON number or "1e3" is refused like on order create).
    amount = StrictDecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    reason = StrictCharField(max_length=300, required=False, allow_blank=True, default="")


class WebhookAckSerializer(serializers.Serializer):
    status = serializers.CharField()
    result = serializers.CharField()
