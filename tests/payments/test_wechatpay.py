"""WeChat Pay API v3 through wechatpayv3 against a loopback server that answers and signs as WeChat Pay does."""

import time
from decimal import Decimal

import pytest

from payments.models import LedgerEntry, Payment, Refund, WebhookDelivery
from payments.providers import provider_for
from payments.providers.base import ProviderUnavailable
from payments.services import payment_reconcile, payment_refund
from tests.payments.fake_providers import keypair
from tests.payments.helpers import inst_of
from workflows.models import OrderEvent


def pay(client, inst, channel="wechat_native", **extra):
    return client.post(f"/api/v1/installments/{inst.pk}/pay/", {"channel": channel, **extra}, format="json")


def notify(client, account, body: bytes, headers: dict):
    django_headers = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    return client.post(f"/api/v1/payments/notify/wechatpay/{account.pk}/", body, content_type="application/json",
                       **django_headers)


def charges(order) -> list[Decimal]:
    return list(LedgerEntry.objects.filter(order=order, kind=LedgerEntry.Kind.CHARGE).values_list("amount", flat=True))


@pytest.fixture
def started(wechatpay, order, consumer, client_for):
    response = pay(client_for(consumer), inst_of(order, "booking"))
    assert response.status_code == 201, response.content
    return Payment.objects.get(pk=response.json()["payment"]["id"])


def test_native_answers_a_code_url_and_its_qr(wechatpay, order, consumer, client_for, other_consumer):
    response = pay(client_for(consumer), inst_of(order, "booking"))

    assert response.status_code == 201, response.content
    action = response.json()["action"]
    payment = Payment.objects.get(pk=response.json()["payment"]["id"])
    assert action["type"] == "qr" and action["code_url"].startswith("weixin://wxpay/bizpayurl?pr=")
    sent = wechatpay.trades[payment.reference]["request"]
    assert sent["amount"] == {"total": 120000, "currency": "CNY"}  # fen, an integer
    assert sent["mchid"] == wechatpay.mchid and sent["appid"] == wechatpay.appid
    assert sent["notify_url"].endswith(f"/api/v1/payments/notify/wechatpay/{wechatpay.account.pk}/")
    qr = client_for(consumer).get(action["qr_svg_url"])
    assert qr.status_code == 200 and qr["Content-Type"] == "image/svg+xml" and b"<svg" in qr.content
    assert client_for(other_consumer).get(action["qr_svg_url"]).status_code == 404


def test_jsapi_answers_signed_request_payment_params(wechatpay, order, consumer, client_for):
    no_openid = pay(client_for(consumer), inst_of(order, "booking"), channel="wechat_jsapi")
    response = pay(client_for(consumer), inst_of(order, "booking"), channel="wechat_jsapi", openid="oUpF8uMuAJO")

    assert no_openid.status_code == 400
    assert response.status_code == 201, response.content
    params = response.json()["action"]["params"]
    assert response.json()["action"]["type"] == "jsapi"
    assert params["appId"] == wechatpay.appid and params["package"].startswith("prepay_id=wx")
    assert params["signType"] == "RSA"
    message = f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    assert wechatpay.merchant_keys.verify(message, params["paySign"])
    payment = Payment.objects.get(pk=response.json()["payment"]["id"])
    assert wechatpay.trades[payment.reference]["request"]["payer"] == {"openid": "oUpF8uMuAJO"}


def test_h5_answers_the_h5_url(wechatpay, order, consumer, client_for):
    response = pay(client_for(consumer), inst_of(order, "booking"), channel="wechat_h5", return_url="/track/abc/")
    assert response.status_code == 201, response.content
    action = response.json()["action"]
    assert action["type"] == "redirect" and action["url"].startswith("https://wx.tenpay.com/")
    assert "redirect_url=http%3A%2F%2Ftestserver%2Ftrack%2Fabc%2F" in action["url"]


def test_notification_captures_once_and_answers_204(started, wechatpay, order, client):
    wechatpay.pay(started.reference)
    body, headers = wechatpay.payment_notification(started.reference)

    first = notify(client, wechatpay.account, body, headers)
    again = notify(client, wechatpay.account, body, headers)

    assert first.status_code == again.status_code == 204
    started.refresh_from_db()
    assert started.status == "captured"
    assert started.provider_payment_id == wechatpay.trades[started.reference]["transaction_id"]
    assert charges(order) == [Decimal("1200.00")]


def _tampered(body: str) -> str:
    return body.replace('"summary": "支付成功"', '"summary": "x"')


@pytest.mark.parametrize("kwargs, code, status", [
    ({"keys": keypair("forger")}, "invalid_signature", 400),
    ({"tamper": _tampered}, "invalid_signature", 400),
    ({"apiv3_key": "b" * 32}, "invalid_signature", 400),
    ({"serial": "PUB_KEY_ID_OTHER"}, "invalid_signature", 400),
    ({"timestamp": int(time.time()) - 301}, "stale_webhook", 400),
    ({"mchid": "1900000999"}, "foreign_account", 400),
])
def test_refused_notifications_move_no_money(started, wechatpay, order, client, kwargs, code, status):
    wechatpay.pay(started.reference)
    body, headers = wechatpay.payment_notification(started.reference, **kwargs)

    response = notify(client, wechatpay.account, body, headers)

    assert response.status_code == status
    assert response.json()["code"] == "FAIL" and response.json()["message"]
    started.refresh_from_db()
    assert started.status == "pending" and charges(order) == []
    assert WebhookDelivery.objects.get(account=wechatpay.account).result.startswith(code)


def test_missing_headers_and_junk_answer_4xx(wechatpay, client):
    bare = client.post(f"/api/v1/payments/notify/wechatpay/{wechatpay.account.pk}/", b"{}",
                       content_type="application/json")
    junk = client.post(f"/api/v1/payments/notify/wechatpay/{wechatpay.account.pk}/", b"\xff\x00",
                       content_type="application/json", HTTP_WECHATPAY_SERIAL=wechatpay.public_key_id,
                       HTTP_WECHATPAY_TIMESTAMP="x", HTTP_WECHATPAY_NONCE="n", HTTP_WECHATPAY_SIGNATURE="s")
    nobody = client.post("/api/v1/payments/notify/wechatpay/0/", b"{}", content_type="application/json")
    assert bare.status_code == junk.status_code == 400 and nobody.status_code == 404
    assert nobody.json()["code"] == "FAIL"


def test_wrong_amount_is_recorded_not_booked(started, wechatpay, order, client):
    wechatpay.pay(started.reference)
    body, headers = wechatpay.payment_notification(started.reference, total=100)

    assert notify(client, wechatpay.account, body, headers).status_code == 204
    assert charges(order) == []
    assert OrderEvent.objects.filter(order=order, kind="payment.amount_mismatch").exists()


def test_lost_notification_is_recovered_by_the_query(started, wechatpay, order):
    assert payment_reconcile(payment_id=started.pk) == "waiting"
    wechatpay.pay(started.reference)
    assert payment_reconcile(payment_id=started.pk) == "captured"
    assert charges(order) == [Decimal("1200.00")]


def test_an_answer_not_signed_by_wechatpay_is_never_acted_on(started, wechatpay, order):
    wechatpay.pay(started.reference)
    wechatpay.platform_keys = keypair("forger")
    with pytest.raises(ProviderUnavailable):
        payment_reconcile(payment_id=started.pk)
    assert charges(order) == []


def test_refund_query_and_refund_notification(started, wechatpay, order, client, store_manager):
    wechatpay.pay(started.reference)
    notify(client, wechatpay.account, *wechatpay.payment_notification(started.reference))
    started.refresh_from_db()
    wechatpay.refund_status = "PROCESSING"

    refund = payment_refund(payment=started, amount=Decimal("200.50"), actor=store_manager, reason="goodwill")

    assert refund.status == Refund.Status.PENDING
    sent = wechatpay.refunds[refund.reference]
    assert sent["amount"] == {"refund": 20050, "total": 120000, "currency": "CNY"}
    assert provider_for(started).query_refund(refund).status == "pending"
    resource = {"mchid": wechatpay.mchid, "out_trade_no": started.reference, "transaction_id": sent["transaction_id"],
                "out_refund_no": refund.reference, "refund_id": sent["refund_id"], "refund_status": "SUCCESS",
                "amount": {"total": 120000, "refund": 20050, "payer_total": 120000, "payer_refund": 20050}}
    body, headers = wechatpay.notification(resource, event_type="REFUND.SUCCESS")

    assert notify(client, wechatpay.account, body, headers).status_code == 204
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    unknown = dict(resource, out_refund_no="z" * 32)
    body, headers = wechatpay.notification(unknown, event_type="REFUND.SUCCESS")
    notify(client, wechatpay.account, body, headers)
    assert LedgerEntry.objects.filter(order=order, kind=LedgerEntry.Kind.REFUND).count() == 1


def test_requests_not_signed_with_the_registered_key_are_refused(wechatpay, order, consumer, client_for):
    from payments.models import PaymentAccount

    PaymentAccount.objects.filter(pk=wechatpay.account.pk).update(merchant_serial_no="OTHER")

    response = pay(client_for(consumer), inst_of(order, "booking"))

    assert response.status_code == 400 and response.json()["code"] == "provider_refused"
    assert wechatpay.calls == []  # the loopback server took nothing it could not verify
    assert inst_of(order, "booking").state == "due"
