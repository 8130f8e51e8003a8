"""WeChat Pay API v3 through wechatpayv3 (minibear2021/wechatpayv3), with the brand's own merchant account.

- Paying: JSAPI / mini program (`wechat_jsapi`: a prepay id, then the `wx.requestPayment` parameters signed with the
  merchant's private key over "appId\\ntimeStamp\\nnonceStr\\npackage\\n"), Native (`wechat_native`: a `code_url`
  the payer scans, which we render as a QR code) and H5 (`wechat_h5`: an `h5_url` the phone browser opens). Amounts
  are fen, integers. `out_trade_no` is our Payment.reference (32 characters, WeChat's limit), `time_expire` the
  attempt's end.
- Every request is signed by the SDK (`Authorization: WECHATPAY2-SHA256-RSA2048 ...` over "METHOD\\npath\\ntimestamp
  \\nnonce\\nbody\\n" with the merchant's private key) and every 2xx answer is verified by it with the WeChat Pay
  platform public key; an answer that does not verify is never acted on.
- Notifications: `Wechatpay-Signature` over "timestamp\\nnonce\\nbody\\n" verified with the platform public key
  (`Wechatpay-Serial` must be the account's public key id, `Wechatpay-Timestamp` within
  WEBHOOK_TOLERANCE_SECONDS), then the `AEAD_AES_256_GCM` resource decrypted with the APIv3 key.

The SDK runs in "public key mode" (the account's platform public key and its id): it never downloads platform
certificates (which it would do at start-up without them). The base URL is settings.WECHATPAY_API_BASE_URL: the SDK
has no public setting for it, so the client's `_core._gate_way` is set after it is built (wechatpayv3 2.0; the
loopback tests in tests/payments/test_wechatpay.py fail if that stops working).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from decimal import Decimal, InvalidOperation
from urllib.parse import quote
from zoneinfo import ZoneInfo

import requests
from django.conf import settings
from wechatpayv3 import WeChatPay, WeChatPayType

from core.money import quantize
from payments.providers.base import (
    PAYMENT_SUCCEEDED,
    REFUND_FAILED,
    REFUND_SUCCEEDED,
    ForeignAccount,
    InvalidSignature,
    MalformedWebhook,
    PaymentProvider,
    PaymentStatus,
    ProviderRefused,
    ProviderUnavailable,
    RefundResult,
    StaleWebhook,
    StartResult,
    WebhookEvent,
)

logger = logging.getLogger("payments.providers.wechatpay")
BEIJING = ZoneInfo("Asia/Shanghai")
PAY_TYPES = {"wechat_jsapi": WeChatPayType.JSAPI, "wechat_native": WeChatPayType.NATIVE,
             "wechat_h5": WeChatPayType.H5}
PAID_STATES = ("SUCCESS", "REFUND")  # REFUND: paid, then (partly) refunded
WAITING_STATES = ("NOTPAY", "USERPAYING")
# Error codes that asking again later may cure.
RETRYABLE = ("SYSTEM_ERROR", "FREQUENCY_LIMITED", "NOT_ENOUGH", "BANK_ERROR")


def fen(amount: Decimal) -> int:
    """WeChat Pay amounts are fen, integers (the amount is CNY, quantized: exact)."""
    return int(quantize(amount, "CNY").scaleb(2))


def from_fen(value) -> Decimal | None:
    try:
        return Decimal(int(value)).scaleb(-2) if not isinstance(value, bool) else None
    except (InvalidOperation, ValueError, TypeError):
        return None


def _body(text) -> dict:
    try:
        parsed = json.loads(text) if text else {}
    except (ValueError, TypeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


class WeChatPayProvider(PaymentProvider):
    name = "wechatpay"
    can_query = True

    def client(self) -> WeChatPay:
        acct = self.account
        if acct is None:
            raise ProviderRefused("A WeChat Pay payment needs the brand's WeChat Pay account.", code="no_account")
        timeout = settings.PAYMENT_PROVIDER_TIMEOUT_SECONDS
        client = WeChatPay(wechatpay_type=WeChatPayType.NATIVE, mchid=acct.mch_id, private_key=acct.private_key(),
                           cert_serial_no=acct.merchant_serial_no, appid=acct.app_id, apiv3_key=acct.apiv3_key(),
                           timeout=(min(timeout, 5), timeout), public_key=acct.provider_public_key,
                           public_key_id=acct.provider_public_key_id)
        client._core._gate_way = settings.WECHATPAY_API_BASE_URL.rstrip("/")  # no public setting for it
        return client

    def _call(self, method: str, **kwargs) -> tuple[int, dict]:
        """One API call: (HTTP status, JSON body). Unreachable, or a 2xx answer that does not verify:
        ProviderUnavailable; 5xx and retryable codes too."""
        try:
            status, text = getattr(self.client(), method)(**kwargs)
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"WeChat Pay could not be reached: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - the SDK raises bare Exception, e.g. for an unverified answer
            logger.error("WeChat Pay %s for account %s failed: %s", method, self.account.pk, exc)
            raise ProviderUnavailable(f"WeChat Pay's answer could not be used: {exc}") from None
        body = _body(text)
        if status >= 500 or body.get("code") in RETRYABLE:
            raise ProviderUnavailable(f"WeChat Pay {method}: {status} {body.get('code', '')}")
        return status, body

    # --- paying --------------------------------------------------------------------------------

    def start_payment(self, payment, request) -> StartResult:
        pay_type = PAY_TYPES.get(request.channel)
        if pay_type is None:
            raise ProviderRefused(f"WeChat Pay has no channel {request.channel}.", code="unknown_channel")
        extra: dict = {}
        if pay_type == WeChatPayType.JSAPI:
            extra["payer"] = {"openid": request.openid}
        if pay_type == WeChatPayType.H5:
            extra["scene_info"] = {"payer_client_ip": request.client_ip or "127.0.0.1", "h5_info": {"type": "Wap"}}
        if request.expires_at is not None:
            extra["time_expire"] = request.expires_at.astimezone(BEIJING).isoformat(timespec="seconds")
        status, body = self._call("pay", description=request.subject[:127] or payment.reference,
                                  out_trade_no=payment.reference, amount={"total": fen(payment.amount),
                                                                          "currency": "CNY"},
                                  notify_url=request.notify_url, pay_type=pay_type, **extra)
        if status != 200:
            raise ProviderRefused(str(body.get("message") or f"WeChat Pay answered {status}")[:300],
                                  code=str(body.get("code", ""))[:60])
        if pay_type == WeChatPayType.JSAPI and body.get("prepay_id"):
            action = {"type": "jsapi", "params": self._jsapi_params(body["prepay_id"])}
        elif pay_type == WeChatPayType.NATIVE and body.get("code_url"):
            action = {"type": "qr", "code_url": body["code_url"]}
        elif pay_type == WeChatPayType.H5 and body.get("h5_url"):
            url = body["h5_url"]
            if request.return_url:
                url += f"&redirect_url={quote(request.return_url, safe='')}"
            action = {"type": "redirect", "url": url}
        else:
            raise ProviderUnavailable("WeChat Pay's answer has no prepay id, code_url or h5_url.")
        return StartResult(provider_payment_id="", checkout_url=action.get("url", ""), action=action)

    def _jsapi_params(self, prepay_id: str) -> dict:
        """What `wx.requestPayment` (or the mini program's) takes: signed with the merchant's private key."""
        params = {"appId": self.account.app_id, "timeStamp": str(int(time.time())),
                  "nonceStr": secrets.token_hex(16), "package": f"prepay_id={prepay_id}", "signType": "RSA"}
        params["paySign"] = self.client().sign([params["appId"], params["timeStamp"], params["nonceStr"],
                                                params["package"]])
        return params

    def query_payment(self, payment) -> PaymentStatus:
        status, body = self._call("query", out_trade_no=payment.reference)
        if status == 404:
            return PaymentStatus(state="unknown", detail=str(body.get("code", "ORDER_NOT_EXIST")))
        if status != 200:
            raise ProviderUnavailable(f"WeChat Pay query: {status} {body.get('code', '')}")
        trade_state = str(body.get("trade_state", ""))
        state = ("paid" if trade_state in PAID_STATES else "waiting" if trade_state in WAITING_STATES
                 else "closed" if trade_state else "waiting")
        amount = body.get("amount") if isinstance(body.get("amount"), dict) else {}
        return PaymentStatus(state=state, amount=from_fen(amount.get("total")),
                             currency=str(amount.get("currency", "")),
                             provider_payment_id=str(body.get("transaction_id", "")), detail=trade_state)

    # --- refunds -------------------------------------------------------------------------------

    def refund(self, payment, amount: Decimal, refund) -> RefundResult:
        reason = {"reason": refund.reason[:80]} if refund.reason else {}
        status, body = self._call("refund", out_refund_no=refund.reference, out_trade_no=payment.reference,
                                  amount={"refund": fen(amount), "total": fen(payment.amount), "currency": "CNY"},
                                  notify_url=self.account.notify_url(), **reason)
        if status != 200:
            return RefundResult(status="failed", detail=f"{body.get('code', status)}: {body.get('message', '')}"[:300])
        return _refund_result(body)

    def query_refund(self, refund) -> RefundResult:
        status, body = self._call("query_refund", out_refund_no=refund.reference)
        if status == 404:
            return RefundResult(status="unknown")
        if status != 200:
            raise ProviderUnavailable(f"WeChat Pay refund query: {status} {body.get('code', '')}")
        return _refund_result(body)

    # --- notifications -------------------------------------------------------------------------

    def verify_and_parse_webhook(self, headers, raw_body: bytes) -> WebhookEvent:
        claimed = {"claimed_event_id": _claimed_id(raw_body)}
        timestamp, serial = headers.get("wechatpay-timestamp", ""), headers.get("wechatpay-serial", "")
        if not (timestamp and serial and headers.get("wechatpay-signature") and headers.get("wechatpay-nonce")):
            raise InvalidSignature("Missing Wechatpay-* signature headers.", **claimed)
        if serial != self.account.provider_public_key_id:
            # Checked first: the SDK would go and download platform certificates for a serial it does not know.
            raise InvalidSignature("Wechatpay-Serial is not the account's platform public key id.", **claimed)
        try:
            timestamp_value = int(timestamp)
            body_text = raw_body.decode("utf-8")
            verified = self.client().callback(headers, body_text)
        except (ValueError, UnicodeDecodeError):
            verified = None
        except Exception:  # noqa: BLE001 - the SDK raises bare Exception for an unsupported signature type
            verified = None
        if not verified or not isinstance(verified.get("resource"), dict):
            raise InvalidSignature("The signature does not verify with the platform public key, or the resource "
                                   "does not decrypt with the APIv3 key.", **claimed)
        if abs(time.time() - timestamp_value) > settings.WEBHOOK_TOLERANCE_SECONDS:
            raise StaleWebhook("Wechatpay-Timestamp is outside the tolerance window.", **claimed)
        resource, event_type = verified["resource"], str(verified.get("event_type", ""))
        claimed["claimed_reference"] = str(resource.get("out_trade_no", ""))[:64]
        mchid = str(resource.get("mchid", ""))
        if mchid != self.account.mch_id or ("appid" in resource and resource["appid"] != self.account.app_id):
            raise ForeignAccount("The notification is for another WeChat Pay merchant number or app id.", **claimed)
        reference = str(resource.get("out_trade_no", ""))
        amount = resource.get("amount") if isinstance(resource.get("amount"), dict) else {}
        base = {"payment_reference": reference, "provider_payment_id": str(resource.get("transaction_id", "")),
                "raw": verified}
        if event_type.startswith("REFUND."):
            refund_status = str(resource.get("refund_status", ""))
            out_refund_no = str(resource.get("out_refund_no", ""))
            if not reference or not out_refund_no:
                raise MalformedWebhook("The refund notification has no out_trade_no or out_refund_no.", **claimed)
            return WebhookEvent(id=f"{mchid}:refund:{out_refund_no}:{refund_status}"[:128],
                                type=REFUND_SUCCEEDED if refund_status == "SUCCESS" else REFUND_FAILED,
                                refund_reference=out_refund_no, provider_refund_id=str(resource.get("refund_id", "")),
                                amount=from_fen(amount.get("refund")), currency=str(amount.get("currency", "")),
                                **base)
        trade_state = str(resource.get("trade_state", ""))
        if not reference or not trade_state:
            raise MalformedWebhook("The notification has no out_trade_no or trade_state.", **claimed)
        total = from_fen(amount.get("total"))
        if total is None:
            raise MalformedWebhook("amount.total is not a whole number of fen.", **claimed)
        kind = PAYMENT_SUCCEEDED if event_type == "TRANSACTION.SUCCESS" and trade_state == "SUCCESS" else event_type
        return WebhookEvent(id=f"{mchid}:{reference}:{trade_state}"[:128], type=kind[:60], amount=total,
                            currency=str(amount.get("currency", "")), **base)


def _refund_result(body: dict) -> RefundResult:
    status = str(body.get("status", ""))
    amount = body.get("amount") if isinstance(body.get("amount"), dict) else {}
    mapped = {"SUCCESS": "succeeded", "PROCESSING": "pending", "CLOSED": "failed", "ABNORMAL": "failed"}
    return RefundResult(status=mapped.get(status, "pending"), provider_refund_id=str(body.get("refund_id", "")),
                        detail=status, amount=from_fen(amount.get("refund")))


def _claimed_id(raw_body: bytes) -> str:
    """The notification id the body claims, for the audit row only (never trusted)."""
    try:
        return str(json.loads(raw_body).get("id", ""))[:128]
    except (ValueError, AttributeError, TypeError):
        return ""
