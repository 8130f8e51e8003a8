"""Alibaba Cloud SMS (Dysms), China's SMS channel, through its official SDK (alibabacloud-dysmsapi20170525).

China sends only pre-approved templates under a pre-approved sign name, so each message kind maps to a template
code and the template's variables, filled from the message's own variables (the notification's `params`):

    ALIYUN_SMS = {
        "ACCESS_KEY_ID": "...", "ACCESS_KEY_SECRET": "...", "SIGN_NAME": "服务通",
        "ENDPOINT": "dysmsapi.aliyuncs.com",          # a test points it at a local server
        "TEMPLATES": {"order.created": {"code": "SMS_100", "params": {"number": "n", "url": "link"}}, ...},
    }

(`params`: the template's variable -> the message's variable.) `check_settings` (a Django system check while
this backend is SMS_BACKEND) names every message kind without a template. Answers: `OK` sent; throttling
(`isv.BUSINESS_LIMIT_CONTROL`, ...) and outages raise SMSDeliveryError (the delivery task retries with back-off);
anything else (a bad number, a template problem) raises SMSRejected: failed for good, never retried.
"""

from __future__ import annotations

import json
import logging

from alibabacloud_dysmsapi20170525 import models as dysms
from alibabacloud_dysmsapi20170525.client import Client
from alibabacloud_tea_openapi.utils_models import Config
from darabonba.exceptions import DaraException
from darabonba.runtime import RuntimeOptions
from django.conf import settings
from django.core.checks import Error
from Tea.exceptions import UnretryableException

from notifications.sms import BaseSMSBackend, SMSDeliveryError, SMSRejected, mask_phone

logger = logging.getLogger("notifications.sms")

# Codes worth another attempt later: throttled per number/day/minute, or the service itself in trouble.
RETRYABLE = frozenset({
    "isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL", "isv.MINUTE_LIMIT_CONTROL", "isv.HOUR_LIMIT_CONTROL",
    "isv.AMOUNT_NOT_ENOUGH", "isp.SYSTEM_ERROR", "SignatureNonceUsed",
    "Throttling.User", "Throttling", "ServiceUnavailable", "InternalError",
})
# Message kinds sent by code rather than from the outbox (the consumer portal's login code).
EXTRA_KINDS = ("portal.code",)


def _conf() -> dict:
    return getattr(settings, "ALIYUN_SMS", {}) or {}


def required_kinds() -> list[str]:
    from notifications.messages import KINDS  # the message kinds there are templates for

    return sorted(set(KINDS) - {"update"} | set(EXTRA_KINDS))


def settings_problems() -> list[str]:
    """What is missing from ALIYUN_SMS, as sentences naming the key or message kind."""
    conf, problems = _conf(), []
    for key in ("ACCESS_KEY_ID", "ACCESS_KEY_SECRET", "SIGN_NAME", "ENDPOINT"):
        if not conf.get(key):
            problems.append(f"ALIYUN_SMS[{key!r}] is not set")
    templates = conf.get("TEMPLATES") or {}
    for kind in required_kinds():
        tpl = templates.get(kind)
        if not isinstance(tpl, dict) or not tpl.get("code"):
            problems.append(f"ALIYUN_SMS['TEMPLATES'] has no template code for message kind {kind!r}")
        elif not isinstance(tpl.get("params", {}), dict):
            problems.append(f"ALIYUN_SMS['TEMPLATES'][{kind!r}]['params'] must map template variables to ours")
    return problems


def check_settings(app_configs=None, **kwargs) -> list[Error]:
    """Django system check: with this backend chosen, every message kind needs its template."""
    if getattr(settings, "SMS_BACKEND", "") != f"{__name__}.AliyunSMSBackend":
        return []
    return [Error(p, hint="Map each message kind to its approved Dysms template (docs/operations.md, "
                          "'SMS in China').", id="notifications.E001") for p in settings_problems()]


class AliyunSMSBackend(BaseSMSBackend):
    def __init__(self) -> None:
        problems = settings_problems()
        if problems:
            raise ValueError("AliyunSMSBackend: " + "; ".join(problems))
        conf = _conf()
        self.templates = conf["TEMPLATES"]
        self.sign_name = conf["SIGN_NAME"]
        self.timeout_ms = int(conf.get("TIMEOUT_SECONDS", 10) * 1000)
        self.client = Client(Config(
            access_key_id=conf["ACCESS_KEY_ID"], access_key_secret=conf["ACCESS_KEY_SECRET"],
            endpoint=conf["ENDPOINT"], protocol=conf.get("PROTOCOL", "https"),
        ))

    def send(self, phone: str, message: str, *, reference: str, kind: str = "", params: dict | None = None) -> str:
        tpl = self.templates.get(kind)
        if tpl is None:
            raise SMSRejected(f"no Dysms template for message kind {kind!r}")
        values = params or {}
        template_param = {name: str(values.get(ours, "")) for name, ours in (tpl.get("params") or {}).items()}
        request = dysms.SendSmsRequest(
            phone_numbers=phone, sign_name=self.sign_name, template_code=tpl["code"],
            template_param=json.dumps(template_param, ensure_ascii=False), out_id=reference,
        )
        runtime = RuntimeOptions(read_timeout=self.timeout_ms, connect_timeout=self.timeout_ms, autoretry=False)
        try:
            body = self.client.send_sms_with_options(request, runtime).body
        except DaraException as exc:
            # The gateway answered an error status (signature, throttling at the API) or nothing at all.
            code = getattr(exc, "code", "") or exc.__class__.__name__
            status = getattr(exc, "status_code", None) or 0
            if code in RETRYABLE or status >= 500 or status == 429 or not status:
                raise SMSDeliveryError(f"dysms {code}: {getattr(exc, 'message', exc)}") from exc
            raise SMSRejected(f"dysms {code}: {getattr(exc, 'message', exc)}") from exc
        except (UnretryableException, OSError) as exc:  # no answer: connection refused, timeout
            raise SMSDeliveryError(f"dysms unreachable: {exc}") from exc
        if body.code == "OK":
            logger.info("SMS %s to %s sent by Dysms (%s)", reference, mask_phone(phone), body.biz_id)
            return f"dysms:{body.biz_id}"
        if body.code in RETRYABLE:
            raise SMSDeliveryError(f"dysms {body.code}: {body.message}")
        raise SMSRejected(f"dysms {body.code}: {body.message}")
