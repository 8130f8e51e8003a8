"""Alipay through python-alipay-sdk against a loopback server that answers and signs as Alipay does."""

import json
from decimal import Decimal
from urllib.request import urlopen

import pytest

from payments.models import LedgerEntry, Payment, Refund, WebhookDelivery
from payments.providers.base import ProviderUnavailable
from payments.services import payment_reconcile, payment_refund, refund_submit
from tests.payments.fake_providers import keypair, signed_url_params
from tests.payments.helpers import inst_of
from workflows.models import OrderEvent


def pay(client, inst, channel="alipay_wap", **extra):
    return client.post(f"/api/v1/installments/{inst.pk}/pay/", {"channel": channel, **extra}, format="json")


def notify(client, account, body: bytes):
    return client.post(f"/api/v1/payments/notify/alipay/{account.pk}/", body,
                       content_type="application/x-www-form-urlencoded")


def charges(order) -> list[Decimal]:
    return list(LedgerEntry.objects.filter(order=order, kind=LedgerEntry.Kind.CHARGE).values_list("amount", flat=True))


@pytest.fixture
def started(alipay, order, consumer, client_for):
    """A wap payment of the booking installment, opened by the consumer, the payer at Alipay's cashier."""
    response = pay(client_for(consumer), inst_of(order, "booking"))
    assert response.status_code == 201, response.content
    url = response.json()["action"]["url"]
    urlopen(url, timeout=5).read()  # noqa: S310 - the payer's browser opens the signed URL (loopback)
    return Payment.objects.get(pk=response.json()["payment"]["id"]), url


@pytest.mark.parametrize("channel, method, product", [
    ("alipay_wap", "alipay.trade.wap.pay", "QUICK_WAP_PAY"),
    ("alipay_page", "alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY"),
])
def test_pay_answers_a_signed_redirect_to_the_gateway(alipay, order, consumer, client_for, channel, method, product):
    response = pay(client_for(consumer), inst_of(order, "booking"), channel=channel)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["payment"]["channel"] == channel and body["payment"]["provider"] == "alipay"
    assert body["action"]["type"] == "redirect" and body["action"]["url"].startswith(alipay.gateway + "?")
    params = signed_url_params(body["action"]["url"])
    assert params["method"] == method and params["app_id"] == alipay.app_id and params["sign_type"] == "RSA2"
    assert alipay.verify_request(dict(params))  # signed with the brand's app private key
    biz = json.loads(params["biz_content"])
    payment = Payment.objects.get(pk=body["payment"]["id"])
    assert biz["out_trade_no"] == payment.reference and biz["total_amount"] == "1200.00"
    assert biz["product_code"] == product and biz["time_expire"]
    assert params["notify_url"].endswith(f"/api/v1/payments/notify/alipay/{alipay.account.pk}/")
    assert payment.account_id == alipay.account.pk and payment.status == "pending"


def test_notification_captures_once_and_answers_success(started, alipay, order, client):
    payment, _ = started
    alipay.pay(payment.reference)
    body = alipay.notification(payment.reference)

    first = notify(client, alipay.account, body)
    again = notify(client, alipay.account, body)

    assert first.status_code == again.status_code == 200
    assert first.content == again.content == b"success"
    payment.refresh_from_db()
    assert payment.status == "captured" and payment.provider_payment_id == alipay.trades[payment.reference]["trade_no"]
    assert charges(order) == [Decimal("1200.00")]
    assert inst_of(order, "booking").state == "paid"
    assert WebhookDelivery.objects.filter(account=alipay.account, status="duplicate").count() == 1


def _forged_key_body(alipay, payment):
    return alipay.notification(payment.reference, keys=keypair("forger"))


def _changed_after_signing(alipay, payment):
    return alipay.notification(payment.reference).replace(b"total_amount=1200.00", b"total_amount=1.00")


def _other_app(alipay, payment):
    return alipay.notification(payment.reference, app_id="2021000000000999")


@pytest.mark.parametrize("build, code", [
    (_forged_key_body, "invalid_signature"),
    (_changed_after_signing, "invalid_signature"),
    (_other_app, "foreign_account"),
    (lambda alipay, payment: b"sign=abc&%zz", "malformed_webhook"),
    (lambda alipay, payment: alipay.notification(payment.reference).replace(b"&sign=", b"&x="), "invalid_signature"),
])
def test_refused_notifications_move_no_money(started, alipay, order, client, build, code):
    payment, _ = started
    alipay.pay(payment.reference)

    response = notify(client, alipay.account, build(alipay, payment))

    assert response.status_code == 400 and response.content == b"fail"
    payment.refresh_from_db()
    assert payment.status == "pending" and charges(order) == []
    assert WebhookDelivery.objects.get(account=alipay.account).result.startswith(code)


def test_a_refusal_naming_our_payment_is_told_to_the_store_once(started, alipay, order, client):
    payment, _ = started
    for _ in range(3):
        notify(client, alipay.account, _forged_key_body(alipay, payment))
    assert OrderEvent.objects.filter(order=order, kind="payment.notification_rejected").count() == 1


def test_wrong_amount_is_recorded_not_booked(started, alipay, order, client):
    payment, _ = started
    alipay.pay(payment.reference)

    response = notify(client, alipay.account, alipay.notification(payment.reference, total_amount="1.00"))

    assert response.content == b"success"  # recorded: Alipay must stop sending it
    assert charges(order) == []
    assert OrderEvent.objects.filter(order=order, kind="payment.amount_mismatch").exists()


def test_unknown_trade_and_unknown_account(started, alipay, order, client):
    unknown = notify(client, alipay.account, alipay.notification("f" * 32))
    no_account = client.post("/api/v1/payments/notify/alipay/999999/", b"a=b",
                             content_type="application/x-www-form-urlencoded")
    junk_id = client.post("/api/v1/payments/notify/alipay/abc/", b"a=b",
                          content_type="application/x-www-form-urlencoded")

    assert unknown.content == b"success" and charges(order) == []
    assert no_account.status_code == junk_id.status_code == 404 and no_account.content == b"fail"


def test_lost_notification_is_recovered_by_the_query(started, alipay, order):
    payment, _ = started
    assert payment_reconcile(payment_id=payment.pk) == "waiting"
    alipay.pay(payment.reference)

    assert payment_reconcile(payment_id=payment.pk) == "captured"

    assert charges(order) == [Decimal("1200.00")]
    assert "alipay.trade.query" in alipay.calls


def test_closed_trade_fails_the_attempt(started, alipay, order):
    payment, _ = started
    alipay.pay(payment.reference, status="TRADE_CLOSED")
    assert payment_reconcile(payment_id=payment.pk) == "failed"
    assert inst_of(order, "booking").state == "failed"


def test_an_answer_not_signed_by_alipay_is_never_acted_on(started, alipay, order):
    payment, _ = started
    alipay.pay(payment.reference)
    alipay.sign_answers_with = keypair("forger")
    with pytest.raises(ProviderUnavailable):
        payment_reconcile(payment_id=payment.pk)
    alipay.down = True
    with pytest.raises(ProviderUnavailable):
        payment_reconcile(payment_id=payment.pk)
    assert charges(order) == [] and Payment.objects.get(pk=payment.pk).status == "pending"


def test_refund_with_out_request_no_and_its_query(started, alipay, order, client, store_manager):
    payment, _ = started
    alipay.pay(payment.reference)
    notify(client, alipay.account, alipay.notification(payment.reference))
    payment.refresh_from_db()

    refund = payment_refund(payment=payment, amount=Decimal("200.00"), actor=store_manager, reason="goodwill")

    assert refund.status == Refund.Status.SUCCEEDED
    assert alipay.refunds[refund.reference] == {"out_trade_no": payment.reference, "refund_amount": "200.00"}
    from payments.providers import provider_for

    asked = provider_for(payment).query_refund(refund)
    assert asked.status == "succeeded" and asked.amount == Decimal("200.00")
    # Sent again (a retry): Alipay refunds an out_request_no once; nothing is booked twice.
    refund_submit(refund_id=refund.pk)
    assert len(alipay.refunds) == 1
    assert list(LedgerEntry.objects.filter(order=order, kind=LedgerEntry.Kind.REFUND)
                .values_list("amount", flat=True)) in ([Decimal("200.00")], [Decimal("-200.00")])


def test_refund_notification_for_a_refund_we_never_asked_moves_nothing(started, alipay, order, client):
    payment, _ = started
    alipay.pay(payment.reference)
    notify(client, alipay.account, alipay.notification(payment.reference))

    response = notify(client, alipay.account, alipay.notification(payment.reference, out_biz_no="r" * 32,
                                                                  refund_fee="100.00"))

    assert response.status_code in (200, 400)
    assert not LedgerEntry.objects.filter(order=order, kind=LedgerEntry.Kind.REFUND).exists()
    assert OrderEvent.objects.filter(order=order, kind="refund.unrecognised").exists()


def test_tracking_page_offers_the_brands_channels_and_pays_through_alipay(alipay, order, client, settings):
    import re

    from notifications.services import tracking_token

    settings.PAYMENT_SANDBOX_ENABLED = False
    page = client.get(f"/track/{tracking_token(order)}/").content.decode()
    offered = re.findall(r'name="channel" value="([a-z_]+)"', page)
    assert offered == ["alipay_wap", "alipay_page"]  # redirect channels of the brand's accounts only
    action = re.search(r'<form class="pay" method="post" action="([^"]+)"', page).group(1)

    jsapi = client.post(action, {"channel": "wechat_jsapi"})
    response = client.post(action, {"channel": "alipay_wap"})

    assert jsapi.status_code == 400 and not Payment.objects.filter(channel="wechat_jsapi").exists()
    assert response.status_code == 302 and response["Location"].startswith(alipay.gateway + "?")
    params = signed_url_params(response["Location"])
    assert alipay.verify_request(dict(params))
    assert params["return_url"].endswith(f"/track/{tracking_token(order)}/?payment=paid")
