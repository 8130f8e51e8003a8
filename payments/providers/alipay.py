"""Alipay (open platform, RSA2) through python-alipay-sdk (fzlee/alipay), with the brand's own account.

- Paying: `alipay.trade.wap.pay` (alipay_wap) and `alipay.trade.page.pay` (alipay_page) are signed redirect URLs
  to the gateway (the SDK signs the sorted `k=v&...` string with the app's private key, RSA-SHA256); nothing is
  sent until the payer's browser opens it. `out_trade_no` is our Payment.reference, `time_expire` the attempt's
  end, so Alipay closes the trade when we stop waiting for it.
- Asking: `alipay.trade.query`, `alipay.trade.refund` (with `out_request_no` = our Refund.reference, which Alipay
  refunds once however often it is sent) and `alipay.trade.fastpay.refund.query`. The SDK verifies each answer's
  signature with the Alipay public key over the exact JSON text of the response object; an answer that does not
  verify is never acted on.
- Notifications (form fields) are verified with the Alipay public key over all fields but `sign` and `sign_type`,
  sorted, `k=v` joined with `&`, as received.

The gateway is settings.ALIPAY_GATEWAY_URL (Alipay's own sandbox, or a local test server): the SDK only knows
its two fixed gateways, so the client's `_gateway` is set after it is built (python-alipay-sdk 3.4; see the
loopback tests in tests/payments/test_alipay.py, which fail if that stops working).
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from urllib.error import URLError
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from alipay import AliPay, AliPayConfig
from alipay.exceptions import AliPayException, AliPayValidationError
from django.conf import settings

from core.money import quantize
from payments.providers.base import (
    PAYMENT_FAILED,
    PAYMENT_PENDING,
    PAYMENT_SUCCEEDED,
    REFUND_SUCCEEDED,
    ForeignAccount,
    InvalidSignature,
    MalformedWebhook,
    PaymentProvider,
    PaymentStatus,
    ProviderRefused,
    ProviderUnavailable,
    RefundResult,
    StartResult,
    WebhookEvent,
)

logger = logging.getLogger("payments.providers.alipay")
BEIJING = ZoneInfo("Asia/Shanghai")
SUCCESS = "10000"
PAY_METHODS = {"alipay_wap": "api_alipay_trade_wap_pay", "alipay_page": "api_alipay_trade_page_pay"}
# Trade states -> what they mean for our attempt.
PAID_STATES = ("TRADE_SUCCESS", "TRADE_FINISHED")
# Business errors that asking again later may cure (Alipay's own trouble).
RETRYABLE = ("ACQ.SYSTEM_ERROR", "aop.ACQ.SYSTEM_ERROR", "ACQ.REFUND_FEE_ERROR")


def yuan(amount: Decimal) -> str:
    """Alipay amounts are yuan strings with 2 places."""
    return str(quantize(amount, "CNY"))


def _decimal(value) -> Decimal | None:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None
    return amount if amount.is_finite() else None


class AlipayProvider(PaymentProvider):
    name = "alipay"
    can_query = True

    def client(self) -> AliPay:
        acct = self.account
        if acct is None:
            raise ProviderRefused("An Alipay payment needs the brand's Alipay account.", code="no_account")
        client = AliPay(appid=acct.app_id, app_notify_url=None, app_private_key_string=acct.private_key(),
                        alipay_public_key_string=acct.provider_public_key, sign_type="RSA2",
                        config=AliPayConfig(timeout=settings.PAYMENT_PROVIDER_TIMEOUT_SECONDS))
        client._gateway = settings.ALIPAY_GATEWAY_URL  # the SDK has no public setting for it
        return client

    def _call(self, method: str, **kwargs) -> dict:
        """One server API call, its answer verified by the SDK. Unreachable or unverifiable: ProviderUnavailable."""
        try:
            return getattr(self.client(), method)(**kwargs)
        except AliPayValidationError:
            logger.error("Alipay answer to %s did not verify with account %s's Alipay public key", method,
                         self.account.pk)
            raise ProviderUnavailable("Alipay's answer did not verify.") from None
        except AliPayException as exc:  # an unsigned error answer (gateway trouble, an app id it does not know)
            raise ProviderUnavailable(f"Alipay answered with an error: {str(exc)[:200]}") from None
        except (TimeoutError, URLError, OSError, ValueError) as exc:
            raise ProviderUnavailable(f"Alipay could not be reached: {exc}") from None

    # --- paying --------------------------------------------------------------------------------

    def start_payment(self, payment, request) -> StartResult:
        method = PAY_METHODS.get(request.channel)
        if method is None:
            raise ProviderRefused(f"Alipay has no channel {request.channel}.", code="unknown_channel")
        extra = {}
        if request.expires_at is not None:
            extra["time_expire"] = request.expires_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
        try:
            signed = getattr(self.client(), method)(
                subject=request.subject[:256] or payment.reference, out_trade_no=payment.reference,
                total_amount=yuan(payment.amount), return_url=request.return_url or None,
                notify_url=request.notify_url or None, **extra)
        except ValueError as exc:  # a key the SDK cannot load
            raise ProviderRefused(f"The brand's Alipay keys cannot be used: {exc}", code="bad_account") from None
        url = f"{settings.ALIPAY_GATEWAY_URL}?{signed}"
        # Alipay gives its trade number only once the payer is at its cashier: notifications and queries tell it.
        return StartResult(provider_payment_id="", checkout_url=url, action={"type": "redirect", "url": url})

    def query_payment(self, payment) -> PaymentStatus:
        answer = self._call("api_alipay_trade_query", out_trade_no=payment.reference)
        if answer.get("code") != SUCCESS:
            if answer.get("sub_code") in ("ACQ.TRADE_NOT_EXIST", "aop.ACQ.TRADE_NOT_EXIST"):
                # Nobody opened the cashier yet (wap/page trades exist from then on).
                return PaymentStatus(state="unknown", detail="TRADE_NOT_EXIST")
            raise ProviderUnavailable(f"alipay.trade.query: {answer.get('sub_code') or answer.get('code')}")
        status = str(answer.get("trade_status", ""))
        state = ("paid" if status in PAID_STATES else "waiting" if status == "WAIT_BUYER_PAY"
                 else "closed" if status == "TRADE_CLOSED" else "waiting")
        return PaymentStatus(state=state, amount=_decimal(answer.get("total_amount")), currency="CNY",
                             provider_payment_id=str(answer.get("trade_no", "")), detail=status)

    # --- refunds -------------------------------------------------------------------------------

    def refund(self, payment, amount: Decimal, refund) -> RefundResult:
        reason = {"refund_reason": refund.reason[:256]} if refund.reason else {}
        answer = self._call("api_alipay_trade_refund", refund_amount=yuan(amount), out_trade_no=payment.reference,
                            out_request_no=refund.reference, **reason)
        code, sub_code = answer.get("code"), str(answer.get("sub_code", ""))
        refund_id = _refund_id(answer.get("trade_no", ""), refund.reference)
        if code == SUCCESS:
            if answer.get("fund_change") == "Y":
                return RefundResult(status="succeeded", provider_refund_id=refund_id)
            # "N": this out_request_no was refunded before (a resend), or Alipay is still on it: ask.
            asked = self.query_refund(refund)
            return asked if asked.status == "succeeded" else RefundResult(status="pending",
                                                                          provider_refund_id=refund_id)
        if code == "40004" and sub_code not in RETRYABLE:
            return RefundResult(status="failed", detail=f"{sub_code}: {answer.get('sub_msg', '')}"[:300])
        raise ProviderUnavailable(f"alipay.trade.refund: {sub_code or code}")

    def query_refund(self, refund) -> RefundResult:
        answer = self._call("api_alipay_trade_fastpay_refund_query", out_request_no=refund.reference,
                            out_trade_no=refund.payment.reference)
        if answer.get("code") != SUCCESS:
            if str(answer.get("sub_code", "")).endswith("TRADE_NOT_EXIST"):
                return RefundResult(status="unknown")
            raise ProviderUnavailable(f"alipay.trade.fastpay.refund.query: {answer.get('sub_code')}")
        if not answer.get("out_request_no"):  # Alipay answers an empty success for a refund it does not have
            return RefundResult(status="unknown")
        status = answer.get("refund_status")
        # Alipay's older answers leave refund_status out: a refund it lists with an amount has been made.
        done = status == "REFUND_SUCCESS" or (status is None and _decimal(answer.get("refund_amount")))
        return RefundResult(status="succeeded" if done else "pending",
                            provider_refund_id=_refund_id(answer.get("trade_no", ""), refund.reference),
                            amount=_decimal(answer.get("refund_amount")))

    # --- notifications -------------------------------------------------------------------------

    def verify_and_parse_webhook(self, headers, raw_body: bytes) -> WebhookEvent:
        try:
            fields = dict(parse_qsl(raw_body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError):
            raise MalformedWebhook("The body is not Alipay's form fields.", signature_valid=False) from None
        claimed = {"claimed_event_id": str(fields.get("notify_id", ""))[:128],
                   "claimed_reference": str(fields.get("out_trade_no", ""))[:64]}
        signature = fields.pop("sign", "")
        if not signature:
            raise InvalidSignature("The notification is not signed.", **claimed)
        try:
            valid = self.client().verify(dict(fields), signature)
        except (AliPayException, ValueError, TypeError):  # another sign_type, a signature that is not base64
            valid = False
        if not valid:
            raise InvalidSignature("The signature does not verify with the Alipay public key.", **claimed)
        if fields.get("app_id") != self.account.app_id:
            raise ForeignAccount("The notification is for another Alipay app.", **claimed)
        reference, trade_no = fields.get("out_trade_no", ""), fields.get("trade_no", "")
        status = fields.get("trade_status", "")
        if not reference or not status:
            raise MalformedWebhook("The notification has no out_trade_no or trade_status.", **claimed)
        base = {"payment_reference": reference, "provider_payment_id": trade_no, "raw": fields}
        prefix = f"{self.account.app_id}:{reference}"
        if fields.get("out_biz_no"):
            # A refund of the trade (Alipay sends them as trade status notifications; refund_fee is the total
            # refunded so far, not this refund's amount).
            return WebhookEvent(id=f"{prefix}:refund:{fields['out_biz_no']}"[:128], type=REFUND_SUCCEEDED,
                                refund_reference=fields["out_biz_no"],
                                provider_refund_id=_refund_id(trade_no, fields["out_biz_no"]), **base)
        amount = _decimal(fields.get("total_amount"))
        if amount is None:
            raise MalformedWebhook("total_amount is not an amount.", **claimed)
        kind = (PAYMENT_SUCCEEDED if status in PAID_STATES else PAYMENT_PENDING if status == "WAIT_BUYER_PAY"
                else PAYMENT_FAILED if status == "TRADE_CLOSED" else status[:60])
        # Domestic trades carry no currency field: they are CNY.
        return WebhookEvent(id=f"{prefix}:{status}"[:128], type=kind, amount=amount,
                            currency=fields.get("trans_currency") or fields.get("currency") or "CNY", **base)


def _refund_id(trade_no: str, out_request_no: str) -> str:
    """Alipay has no refund number of its own: the trade's number and our out_request_no name a refund."""
    return f"{trade_no}/{out_request_no}"[:128] if trade_no else ""
