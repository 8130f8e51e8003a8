"""A local Alibaba Cloud SMS (Dysms) for the tests: a threaded HTTP server on loopback that checks each request's
ACS3-HMAC-SHA256 signature (made with an AccessKey made here) and answers SendSms as Dysms does."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, urlsplit

KEY_ID = "LTAI-test-" + secrets.token_hex(4)
KEY_SECRET = secrets.token_urlsafe(24)


def _pct(text: str) -> str:
    return quote(text, safe="-_.~")


def signature_ok(method: str, path: str, headers, body: bytes) -> bool:
    """Alibaba Cloud's ACS3-HMAC-SHA256 (the V3 signature) recomputed from the request as the gateway does."""
    auth = headers.get("Authorization", "")
    algorithm, _sp, rest = auth.partition(" ")
    parts = dict(p.split("=", 1) for p in rest.split(","))
    if algorithm != "ACS3-HMAC-SHA256" or parts.get("Credential") != KEY_ID:
        return False
    url = urlsplit(path)
    query = "&".join(f"{_pct(k)}={_pct(v)}" for k, v in sorted(parse_qsl(url.query, keep_blank_values=True)))
    signed = parts["SignedHeaders"].split(";")
    lower = {k.lower(): v for k, v in headers.items()}
    canonical = "\n".join([method, url.path or "/", query,
                           "".join(f"{h}:{lower.get(h, '').strip()}\n" for h in signed),
                           parts["SignedHeaders"], hashlib.sha256(body).hexdigest()])
    to_sign = f"ACS3-HMAC-SHA256\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    expected = hmac.new(KEY_SECRET.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("Signature", ""))


class FakeDysms:
    """Answers SendSms with the next queued Code (then OK), and records what each request carried."""

    def __init__(self):
        self.requests: list[dict] = []
        self.codes: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                params = dict(parse_qsl(urlsplit(self.path).query))
                params.update(parse_qsl(body.decode()))
                fake.requests.append({"action": self.headers.get("x-acs-action"), "params": params,
                                      "signed": signature_ok("POST", self.path, self.headers, body)})
                if not fake.requests[-1]["signed"]:
                    status, answer = 400, {"Code": "IncompleteSignature", "Message": "signature mismatch"}
                else:
                    code = fake.codes.pop(0) if fake.codes else "OK"
                    status, answer = 200, {"Code": code, "Message": "OK" if code == "OK" else f"{code} says no"}
                    if code == "OK":
                        answer["BizId"] = f"9{len(fake.requests):05d}^0"
                answer["RequestId"] = secrets.token_hex(8).upper()
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.server.server_port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


