"""On PostgreSQL: 64 concurrent copies of one Alipay notification and of one WeChat Pay notification capture once."""

import pytest
from django.test import Client

from payments.models import LedgerEntry, WebhookDelivery
from payments.services import installment_pay
from payments.services.checkout import Payer
from tests.payments.helpers import inst_of
from tests.payments.test_concurrency import run_threads
from workflows.models import OrderEvent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _assert_captured_once(order, results, errors, ok):
    assert errors == []
    assert results == [ok] * 64
    assert LedgerEntry.objects.filter(order=order).count() == 1
    assert OrderEvent.objects.filter(order=order, kind="payment.captured").count() == 1
    assert WebhookDelivery.objects.filter(status="accepted").count() == 1
    assert WebhookDelivery.objects.filter(status="duplicate").count() == 63


def test_64_copies_of_one_alipay_notification_capture_once(alipay, order):
    payment = installment_pay(installment=inst_of(order, "booking"), actor=order.consumer, channel="alipay_wap",
                              payer=Payer()).payment
    alipay.trades[payment.reference] = {"total_amount": "1200.00", "trade_status": "TRADE_SUCCESS",
                                        "trade_no": "2026120322001400000000000001"}
    body = alipay.notification(payment.reference)
    url = f"/api/v1/payments/notify/alipay/{alipay.account.pk}/"

    results, errors = run_threads(64, lambda i: Client().post(
        url, data=body, content_type="application/x-www-form-urlencoded").content)

    _assert_captured_once(order, results, errors, b"success")


def test_64_copies_of_one_wechatpay_notification_capture_once(wechatpay, order):
    payment = installment_pay(installment=inst_of(order, "booking"), actor=order.consumer, channel="wechat_native",
                              payer=Payer()).payment
    wechatpay.pay(payment.reference)
    body, headers = wechatpay.payment_notification(payment.reference)
    extra = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    url = f"/api/v1/payments/notify/wechatpay/{wechatpay.account.pk}/"

    results, errors = run_threads(64, lambda i: Client().post(
        url, data=body, content_type="application/json", **extra).status_code)

    _assert_captured_once(order, results, errors, 204)
