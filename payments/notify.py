"""The real providers' notification endpoints, one URL per brand account. Their answers are the providers' own
formats, not the API's `{"code", "detail"}`:

- Alipay (`POST /api/v1/payments/notify/alipay/<account id>/`, form fields): the plain text `success` once the
  notification is safely recorded (a repeat too); anything else makes Alipay send it again (`fail`, with 400 for a
  notification refused, 404 for an account that does not exist).
- WeChat Pay (`POST /api/v1/payments/notify/wechatpay/<account id>/`, JSON with an encrypted resource): 204 once
  recorded; 4xx `{"code": "FAIL", "message"}` otherwise (WeChat Pay sends it again).

Both call payments.services.webhook_receive with the account: verified with its keys, stored, applied once.
"""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from core.errors import DomainError
from payments import services
from payments.api import RawBodyParser
from payments.selectors import payment_account_for_notification

ACCOUNT = OpenApiParameter("account_id", int, OpenApiParameter.PATH,
                           description="The brand's payment account (`manage.py payment_account_set` prints it).")
ALIPAY_FORM = {"type": "object", "additionalProperties": {"type": "string"},
               "description": "Alipay's asynchronous notification: form fields signed with RSA2 (`sign`, `sign_type`)."}
WECHATPAY_FAILURE = inline_serializer("WeChatPayNotifyFailure", fields={
    "code": serializers.CharField(), "message": serializers.CharField()})


class _ProviderNotifyView(APIView):
    """No authentication: the provider's signature is the authentication."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [RawBodyParser]
    provider = ""

    def receive(self, request, account_id: str) -> str | None:
        """None once recorded; otherwise why not (with the status to answer in `self.failure_status`)."""
        account = payment_account_for_notification(provider=self.provider, account_id=account_id)
        if account is None:
            self.failure_status = 404
            return _("No such payment account.")
        try:
            services.webhook_receive(provider=self.provider, account=account, headers=request.headers,
                                     raw_body=request.body)
        except DomainError as exc:
            self.failure_status = exc.status_code if 400 <= exc.status_code < 500 else 400
            return exc.detail
        return None


@method_decorator(csrf_exempt, name="dispatch")
class AlipayNotifyView(_ProviderNotifyView):
    provider = "alipay"

    @extend_schema(
        operation_id="payments_notify_alipay", parameters=[ACCOUNT], request={"application/x-www-form-urlencoded":
                                                                               ALIPAY_FORM},
        responses={(200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="`success`: recorded."),
                   (400, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description=(
                       "`fail`: refused (bad signature, another app id, unreadable); nothing changed.")),
                   (404, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="`fail`: no such account.")},
    )
    def post(self, request, account_id: str):
        """Alipay's asynchronous notification for one of the brand's payments or refunds."""
        failure = self.receive(request, account_id)
        if failure is None:
            return HttpResponse("success", content_type="text/plain; charset=utf-8")
        return HttpResponse("fail", content_type="text/plain; charset=utf-8", status=self.failure_status)


@method_decorator(csrf_exempt, name="dispatch")
class WeChatPayNotifyView(_ProviderNotifyView):
    provider = "wechatpay"

    @extend_schema(
        operation_id="payments_notify_wechatpay", parameters=[ACCOUNT],
        request={"application/json": {"type": "object", "description": (
            "WeChat Pay's notification: `Wechatpay-*` signature headers, the resource encrypted with the APIv3 "
            "key.")}},
        responses={204: OpenApiResponse(description="Recorded."),
                   400: OpenApiResponse(WECHATPAY_FAILURE, description=(
                       "`FAIL`: refused (bad or stale signature, another merchant number or app id, unreadable); "
                       "nothing changed.")),
                   404: OpenApiResponse(WECHATPAY_FAILURE, description="`FAIL`: no such account.")},
    )
    def post(self, request, account_id: str):
        """WeChat Pay's notification (payment or refund) for one of the brand's payments."""
        failure = self.receive(request, account_id)
        if failure is None:
            return HttpResponse(status=204)
        return JsonResponse({"code": "FAIL", "message": str(failure)}, status=self.failure_status)
