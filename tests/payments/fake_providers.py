"""Alipay and WeChat Pay played by local HTTP servers on loopback, answering and signing as the real services do.

Keys are RSA 2048, made here. The Alipay server checks each request's RSA2 signature with the app's public key and
signs its answers (the exact JSON text of the `<method>_response` object) with the Alipay private key; the WeChat
Pay server checks the merchant's `Authorization: WECHATPAY2-SHA256-RSA2048` signature and signs its answers'
"timestamp\\nnonce\\nbody\\n" with the platform private key. Both build notifications the way their services do
(Alipay: sorted form fields, RSA2; WeChat Pay: an AEAD_AES_256_GCM resource under the APIv3 key, signed headers).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


@dataclass(frozen=True)
class KeyPair:
    private_pem: str
    public_pem: str

    @property
    def private(self):
        return serialization.load_pem_private_key(self.private_pem.encode(), password=None)

    @property
    def public(self):
        return serialization.load_pem_public_key(self.public_pem.encode())

    def sign(self, message: str) -> str:
        raw = self.private.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(raw).decode()

    def verify(self, message: str, signature: str) -> bool:
        try:
            self.public.verify(base64.b64decode(signature), message.encode(), padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            return False
        return True


@lru_cache(maxsize=8)
def keypair(name: str) -> KeyPair:
    """An RSA 2048 key pair per name, made once per test session."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return KeyPair(private, public)


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 (a free port) with `handle(method, path, headers, body)`."""

    def start(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, payload = owner.handle(self.command, self.path, dict(self.headers), body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _any

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# --- Alipay -------------------------------------------------------------------------------------------


@dataclass
class AlipayFake(_Server):
    app_id: str = "2021000000000001"
    app_keys: KeyPair = field(default_factory=lambda: keypair("alipay-app"))
    alipay_keys: KeyPair = field(default_factory=lambda: keypair("alipay-platform"))
    trades: dict = field(default_factory=dict)  # out_trade_no -> {"total_amount", "trade_status", "trade_no"}
    refunds: dict = field(default_factory=dict)  # out_request_no -> {"out_trade_no", "refund_amount"}
    calls: list = field(default_factory=list)
    down: bool = False  # answer 502 (a gateway that cannot be reached)
    sign_answers_with: KeyPair | None = None  # sign answers with another key (a forger)

    @property
    def gateway(self) -> str:
        return f"{self.base}/gateway.do"

    def verify_request(self, params: dict) -> bool:
        """A request is signed over every parameter but `sign` (sign_type included), sorted, k=v joined by &."""
        signature = params.pop("sign", "")
        message = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        return self.app_keys.verify(message, signature)

    def handle(self, method, path, headers, body):
        if self.down:
            return 502, {}, b"bad gateway"
        query = urlsplit(path).query
        params = dict(parse_qsl(query, keep_blank_values=True))
        if not self.verify_request(dict(params)) or params.get("app_id") != self.app_id:
            return self._answer("error_response", {"code": "40002", "sub_code": "isv.invalid-signature"},
                                signed=False)
        api = params["method"]
        self.calls.append(api)
        biz = json.loads(params.get("biz_content") or "{}")
        name = api.replace(".", "_") + "_response"
        if api in ("alipay.trade.wap.pay", "alipay.trade.page.pay"):
            # The payer's browser at the cashier: the trade exists from now on, waiting for the payer.
            self.trades.setdefault(biz["out_trade_no"], {"total_amount": biz["total_amount"],
                                                         "trade_status": "WAIT_BUYER_PAY",
                                                         "trade_no": f"2026{secrets.randbelow(10**12):012d}",
                                                         "notify_url": params.get("notify_url", "")})
            return 200, {"Content-Type": "text/html; charset=utf-8"}, b"<html>cashier</html>"
        if api == "alipay.trade.query":
            trade = self.trades.get(biz.get("out_trade_no"))
            if trade is None:
                return self._answer(name, {"code": "40004", "msg": "Business Failed",
                                           "sub_code": "ACQ.TRADE_NOT_EXIST", "sub_msg": "trade does not exist"})
            return self._answer(name, {"code": "10000", "msg": "Success", "out_trade_no": biz["out_trade_no"],
                                       "trade_no": trade["trade_no"], "trade_status": trade["trade_status"],
                                       "total_amount": trade["total_amount"]})
        if api == "alipay.trade.refund":
            trade = self.trades.get(biz.get("out_trade_no"))
            if trade is None or trade["trade_status"] not in ("TRADE_SUCCESS", "TRADE_FINISHED"):
                return self._answer(name, {"code": "40004", "msg": "Business Failed",
                                           "sub_code": "ACQ.TRADE_STATUS_ERROR", "sub_msg": "trade status error"})
            fresh = biz["out_request_no"] not in self.refunds
            if fresh:
                self.refunds[biz["out_request_no"]] = {"out_trade_no": biz["out_trade_no"],
                                                       "refund_amount": biz["refund_amount"]}
            return self._answer(name, {"code": "10000", "msg": "Success", "trade_no": trade["trade_no"],
                                       "out_trade_no": biz["out_trade_no"], "refund_fee": biz["refund_amount"],
                                       "fund_change": "Y" if fresh else "N"})
        if api == "alipay.trade.fastpay.refund.query":
            refund = self.refunds.get(biz.get("out_request_no"))
            if refund is None:
                return self._answer(name, {"code": "10000", "msg": "Success"})
            trade = self.trades[refund["out_trade_no"]]
            return self._answer(name, {"code": "10000", "msg": "Success", "trade_no": trade["trade_no"],
                                       "out_trade_no": refund["out_trade_no"], "out_request_no": biz["out_request_no"],
                                       "refund_amount": refund["refund_amount"], "refund_status": "REFUND_SUCCESS"})
        return self._answer(name, {"code": "40004", "sub_code": "isv.invalid-method"})

    def _answer(self, name: str, obj: dict, signed: bool = True):
        inner = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        keys = self.sign_answers_with or self.alipay_keys
        text = f'{{"{name}":{inner}' + (f',"sign":"{keys.sign(inner)}"}}' if signed else "}")
        return 200, {"Content-Type": "text/html;charset=utf-8"}, text.encode()

    def pay(self, out_trade_no: str, status: str = "TRADE_SUCCESS") -> dict:
        trade = self.trades[out_trade_no]
        trade["trade_status"] = status
        return trade

    def notification(self, out_trade_no: str, *, status: str = "TRADE_SUCCESS", total_amount: str | None = None,
                     app_id: str | None = None, keys: KeyPair | None = None, **extra) -> bytes:
        """The form body Alipay posts: every field but sign/sign_type sorted, k=v joined with &, RSA2."""
        trade = self.trades.get(out_trade_no) or {"trade_no": "2026000000000000", "total_amount": "0.00"}
        fields = {"notify_time": "2026-12-03 10:00:00", "notify_type": "trade_status_sync",
                  "notify_id": secrets.token_hex(16), "charset": "utf-8", "version": "1.0",
                  "app_id": app_id or self.app_id, "trade_no": trade["trade_no"], "out_trade_no": out_trade_no,
                  "trade_status": status, "total_amount": total_amount or trade["total_amount"],
                  "receipt_amount": total_amount or trade["total_amount"], "buyer_id": "2088102177846880",
                  "subject": "订单", **extra}
        message = "&".join(f"{k}={v}" for k, v in sorted(fields.items()))
        fields["sign"] = (keys or self.alipay_keys).sign(message)
        fields["sign_type"] = "RSA2"
        return urlencode(fields).encode()


def signed_url_params(url: str) -> dict:
    """The parameters of a signed Alipay redirect URL, decoded."""
    return {k: unquote_plus(v) for k, v in (p.split("=", 1) for p in urlsplit(url).query.split("&"))}


# --- WeChat Pay ------------------------------------------------------------------------------------------

AUTH = re.compile(r'WECHATPAY2-SHA256-RSA2048 (.*)')


@dataclass
class WeChatPayFake(_Server):
    mchid: str = "1900000109"
    appid: str = "wxd678efh567hg6787"
    serial_no: str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
    public_key_id: str = "PUB_KEY_ID_0114232134912410000000000000"
    apiv3_key: str = "a12d3924fd499edac8a5efc0a1b2c3d4"
    merchant_keys: KeyPair = field(default_factory=lambda: keypair("wechat-merchant"))
    platform_keys: KeyPair = field(default_factory=lambda: keypair("wechat-platform"))
    trades: dict = field(default_factory=dict)  # out_trade_no -> {"total", "trade_state", "transaction_id", ...}
    refunds: dict = field(default_factory=dict)
    calls: list = field(default_factory=list)
    down: bool = False
    refund_status: str = "SUCCESS"

    def _authorized(self, method: str, path: str, headers: dict, body: bytes) -> bool:
        found = AUTH.match(headers.get("Authorization", ""))
        if not found:
            return False
        parts = dict(re.findall(r'(\w+)="([^"]*)"', found.group(1)))
        if parts.get("mchid") != self.mchid or parts.get("serial_no") != self.serial_no:
            return False
        message = f"{method}\n{path}\n{parts['timestamp']}\n{parts['nonce_str']}\n{body.decode()}\n"
        return self.merchant_keys.verify(message, parts.get("signature", ""))

    def handle(self, method, path, headers, body):
        if self.down:
            return 502, {}, b"bad gateway"
        if not self._authorized(method, path, headers, body):
            return self._answer(401, {"code": "SIGN_ERROR", "message": "signature error"})
        self.calls.append((method, urlsplit(path).path))
        data = json.loads(body) if body else {}
        route = urlsplit(path).path
        if method == "POST" and route.startswith("/v3/pay/transactions/"):
            kind = route.rsplit("/", 1)[1]
            if data.get("mchid") != self.mchid or data.get("appid") != self.appid:
                return self._answer(400, {"code": "PARAM_ERROR", "message": "mchid/appid"})
            if data["amount"].get("currency", "CNY") != "CNY" or not isinstance(data["amount"]["total"], int):
                return self._answer(400, {"code": "PARAM_ERROR", "message": "amount"})
            trade = self.trades.setdefault(data["out_trade_no"], {
                "total": data["amount"]["total"], "trade_state": "NOTPAY",
                "transaction_id": f"4200{secrets.randbelow(10**24):024d}", "notify_url": data["notify_url"],
                "request": data})
            if kind == "jsapi":
                return self._answer(200, {"prepay_id": f"wx{trade['transaction_id'][:26]}"})
            if kind == "native":
                return self._answer(200, {"code_url": f"weixin://wxpay/bizpayurl?pr={trade['transaction_id'][:8]}"})
            if kind == "h5":
                return self._answer(200, {"h5_url": f"https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?"
                                                     f"prepay_id={trade['transaction_id'][:12]}&package=1"})
        if method == "GET" and route.startswith("/v3/pay/transactions/out-trade-no/"):
            trade = self.trades.get(route.rsplit("/", 1)[1])
            if trade is None:
                return self._answer(404, {"code": "ORDER_NOT_EXIST", "message": "order does not exist"})
            return self._answer(200, self.transaction(route.rsplit("/", 1)[1]))
        if method == "POST" and route == "/v3/refund/domestic/refunds":
            trade = self.trades.get(data.get("out_trade_no"))
            if trade is None or trade["trade_state"] not in ("SUCCESS", "REFUND"):
                return self._answer(400, {"code": "INVALID_REQUEST", "message": "trade not paid"})
            refund = self.refunds.setdefault(data["out_refund_no"], {
                "refund_id": f"5030{secrets.randbelow(10**24):024d}", "out_refund_no": data["out_refund_no"],
                "out_trade_no": data["out_trade_no"], "transaction_id": trade["transaction_id"],
                "status": self.refund_status, "amount": {"refund": data["amount"]["refund"],
                                                         "total": data["amount"]["total"], "currency": "CNY"}})
            trade["trade_state"] = "REFUND"
            return self._answer(200, refund)
        if method == "GET" and route.startswith("/v3/refund/domestic/refunds/"):
            refund = self.refunds.get(route.rsplit("/", 1)[1])
            if refund is None:
                return self._answer(404, {"code": "RESOURCE_NOT_EXISTS", "message": "no such refund"})
            return self._answer(200, refund)
        return self._answer(404, {"code": "NOT_FOUND", "message": route})

    def signed_headers(self, body: str, *, timestamp: int | None = None, keys: KeyPair | None = None,
                       serial: str | None = None) -> dict:
        timestamp = int(time.time()) if timestamp is None else timestamp
        nonce = secrets.token_hex(16)
        signature = (keys or self.platform_keys).sign(f"{timestamp}\n{nonce}\n{body}\n")
        return {"Wechatpay-Timestamp": str(timestamp), "Wechatpay-Nonce": nonce, "Wechatpay-Signature": signature,
                "Wechatpay-Serial": serial or self.public_key_id,
                "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"}

    def _answer(self, status: int, obj: dict):
        body = json.dumps(obj, ensure_ascii=False)
        headers = {"Content-Type": "application/json; charset=utf-8", "Request-ID": secrets.token_hex(8)}
        if 200 <= status < 300:
            headers.update(self.signed_headers(body))
        return status, headers, body.encode()

    def transaction(self, out_trade_no: str) -> dict:
        trade = self.trades[out_trade_no]
        return {"appid": self.appid, "mchid": self.mchid, "out_trade_no": out_trade_no,
                "transaction_id": trade["transaction_id"], "trade_type": "NATIVE", "trade_state": trade["trade_state"],
                "trade_state_desc": trade["trade_state"], "success_time": "2026-12-03T10:00:00+08:00",
                "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
                "amount": {"total": trade["total"], "payer_total": trade["total"], "currency": "CNY",
                           "payer_currency": "CNY"}}

    def pay(self, out_trade_no: str, state: str = "SUCCESS") -> dict:
        self.trades[out_trade_no]["trade_state"] = state
        return self.trades[out_trade_no]

    def notification(self, resource: dict, *, event_type: str = "TRANSACTION.SUCCESS", timestamp: int | None = None,
                     keys: KeyPair | None = None, apiv3_key: str | None = None, serial: str | None = None,
                     tamper=None) -> tuple[bytes, dict]:
        """(body, headers) as WeChat Pay posts them: the resource encrypted with AEAD_AES_256_GCM under the APIv3
        key, "timestamp\\nnonce\\nbody\\n" signed with the platform private key."""
        nonce = secrets.token_hex(6)  # 12 characters
        associated = "transaction" if event_type.startswith("TRANSACTION") else "refund"
        plain = json.dumps(resource, ensure_ascii=False).encode()
        cipher = AESGCM((apiv3_key or self.apiv3_key).encode()).encrypt(nonce.encode(), plain, associated.encode())
        envelope = {"id": secrets.token_hex(16), "create_time": "2026-12-03T10:00:00+08:00",
                    "resource_type": "encrypt-resource", "event_type": event_type, "summary": "支付成功",
                    "resource": {"original_type": associated, "algorithm": "AEAD_AES_256_GCM",
                                 "ciphertext": base64.b64encode(cipher).decode(), "associated_data": associated,
                                 "nonce": nonce}}
        body = json.dumps(envelope, ensure_ascii=False)
        headers = self.signed_headers(body, timestamp=timestamp, keys=keys, serial=serial)
        if tamper is not None:
            body = tamper(body)
        return body.encode(), headers

    def payment_notification(self, out_trade_no: str, **kwargs) -> tuple[bytes, dict]:
        overrides = {k: kwargs.pop(k) for k in ("total", "mchid", "currency") if k in kwargs}
        resource = self.transaction(out_trade_no)
        resource["trade_state"] = "SUCCESS"
        if "total" in overrides:
            resource["amount"]["total"] = overrides["total"]
        if "currency" in overrides:
            resource["amount"]["currency"] = overrides["currency"]
        if "mchid" in overrides:
            resource["mchid"] = overrides["mchid"]
        return self.notification(resource, **kwargs)

    def wechat_headers_for_django(self, headers: dict) -> dict:
        """Headers as Django's test client takes them (HTTP_WECHATPAY_...)."""
        return {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
