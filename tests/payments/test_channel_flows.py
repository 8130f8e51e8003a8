"""The reference flow (12,000.00 CNY wardrobe, deposit to final payment) paid through each real channel, the
providers played by loopback servers: the ledger ends exact."""

from decimal import Decimal
from urllib.request import urlopen

import pytest

from payments.models import LedgerEntry, Payment
from tests.test_reference_flow import Flow, run_reference_flow


class ChannelFlow(Flow):
    channel = ""
    fake = None
    client = None

    def pay_due(self):
        paid = []
        detail = self.detail()
        assert self.channel in detail["payment_channels"] and "sandbox" not in detail["payment_channels"]
        for inst in detail["installments"]:
            if inst["state"] != "due":
                continue
            answer = self.ok(self.consumer.post(f"/api/v1/installments/{inst['id']}/pay/",
                                                {"channel": self.channel, "openid": "oUpF8uMuAJO"}, format="json"))
            payment = Payment.objects.get(pk=answer["payment"]["id"])
            if self.channel.startswith("alipay"):
                urlopen(answer["action"]["url"], timeout=5).read()  # noqa: S310 - loopback: the payer at the cashier
                self.fake.pay(payment.reference)
                response = self.client.post(f"/api/v1/payments/notify/alipay/{self.fake.account.pk}/",
                                            self.fake.notification(payment.reference),
                                            content_type="application/x-www-form-urlencoded")
                assert response.content == b"success"
            else:
                self.fake.pay(payment.reference)
                body, headers = self.fake.payment_notification(payment.reference)
                response = self.client.post(f"/api/v1/payments/notify/wechatpay/{self.fake.account.pk}/", body,
                                            content_type="application/json",
                                            **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})
                assert response.status_code == 204
            paid.append(Decimal(inst["amount"]))
        return paid


@pytest.mark.parametrize("channel", ["alipay_wap", "alipay_page", "wechat_native", "wechat_jsapi", "wechat_h5"])
def test_reference_flow_through_each_channel(request, client, client_for, merchant_admin, store_manager, technician,
                                             consumer, store, channel, settings):
    settings.PAYMENT_SANDBOX_ENABLED = False
    flow = ChannelFlow(client_for, merchant_admin, store_manager, technician, consumer, store)
    flow.channel, flow.client = channel, client
    flow.fake = request.getfixturevalue("alipay" if channel.startswith("alipay") else "wechatpay")

    run_reference_flow(flow)

    order_id = flow.order_id
    charges = LedgerEntry.objects.filter(order_id=order_id, kind=LedgerEntry.Kind.CHARGE)
    assert sorted(charges.values_list("amount", flat=True)) == [
        Decimal("1200.00"), Decimal("1200.00"), Decimal("3600.00"), Decimal("6000.00")]
    assert sum(charges.values_list("amount", flat=True)) == Decimal("12000.00")
    assert set(Payment.objects.filter(order_id=order_id).values_list("channel", "account_id")) == {
        (channel, flow.fake.account.pk)}
