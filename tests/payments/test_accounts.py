"""Each brand's own accounts: set by command and in the admin, secrets encrypted and never shown back, channels
offered only where the brand has an account, payments going to the order's brand's account."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from hypothesis import given
from hypothesis import strategies as st

from payments.models import Payment, PaymentAccount
from payments.providers.wechatpay import fen, from_fen
from payments.services import payment_account_set
from tests.factories.workflows import make_order
from tests.payments.fake_providers import keypair
from tests.payments.helpers import inst_of


def _alipay_files(tmp_path):
    app, platform = keypair("alipay-app"), keypair("alipay-platform")
    (tmp_path / "app.pem").write_text(app.private_pem)
    (tmp_path / "alipay.pem").write_text(platform.public_pem)
    return ["--app-private-key-file", str(tmp_path / "app.pem"), "--provider-public-key-file",
            str(tmp_path / "alipay.pem")]


def test_command_sets_an_alipay_account_encrypted_and_replaces_it_keeping_the_id(merchant, tmp_path):
    out = StringIO()
    call_command("payment_account_set", "--merchant", str(merchant.pk), "--provider", "alipay", "--app-id", "2021001",
                 *_alipay_files(tmp_path), stdout=out, stderr=StringIO())
    account = PaymentAccount.objects.get()
    assert out.getvalue().strip() == str(account.pk)
    private = keypair("alipay-app").private_pem
    assert account.private_key() == private
    assert "PRIVATE KEY" not in account.private_key_encrypted and private[40:80] not in account.private_key_encrypted

    again = StringIO()
    call_command("payment_account_set", "--merchant", str(merchant.pk), "--provider", "alipay", "--app-id", "2021002",
                 *_alipay_files(tmp_path), stdout=again, stderr=StringIO())
    assert again.getvalue().strip() == str(account.pk)
    assert PaymentAccount.objects.get().app_id == "2021002"


def test_command_sets_a_wechatpay_account(merchant, tmp_path):
    key, platform = keypair("wechat-merchant"), keypair("wechat-platform")
    (tmp_path / "k.pem").write_text(key.private_pem)
    (tmp_path / "p.pem").write_text(platform.public_pem)
    call_command("payment_account_set", "--merchant", str(merchant.pk), "--provider", "wechatpay", "--mchid",
                 "1900000109", "--appid", "wx1", "--serial-no", "ABC", "--private-key-file", str(tmp_path / "k.pem"),
                 "--apiv3-key", "a" * 32, "--platform-public-key-file", str(tmp_path / "p.pem"),
                 "--platform-public-key-id", "PUB_KEY_ID_1", stdout=StringIO(), stderr=StringIO())
    account = PaymentAccount.objects.get(provider="wechatpay")
    assert account.apiv3_key() == "a" * 32 and account.apiv3_key_hint == "aaaa"
    assert "a" * 32 not in account.apiv3_key_encrypted


@pytest.mark.parametrize("args", [
    ["--provider", "alipay", "--app-id", "1"],  # no keys
    ["--provider", "wechatpay", "--mchid", "abc"],
])
def test_command_refuses_incomplete_or_bad_input(merchant, args):
    with pytest.raises(CommandError):
        call_command("payment_account_set", "--merchant", str(merchant.pk), *args, stdout=StringIO(),
                     stderr=StringIO())
    assert not PaymentAccount.objects.exists()


def test_command_refuses_a_key_that_is_not_a_key(merchant, tmp_path):
    (tmp_path / "bad.pem").write_text("not a key")
    (tmp_path / "alipay.pem").write_text(keypair("alipay-platform").public_pem)
    with pytest.raises(CommandError, match="--app-private-key-file"):
        call_command("payment_account_set", "--merchant", str(merchant.pk), "--provider", "alipay", "--app-id", "1",
                     "--app-private-key-file", str(tmp_path / "bad.pem"), "--provider-public-key-file",
                     str(tmp_path / "alipay.pem"), stdout=StringIO(), stderr=StringIO())


def _set_alipay(merchant):
    return payment_account_set(merchant=merchant, provider="alipay", app_id="2021001",
                               private_key=keypair("alipay-app").private_pem,
                               provider_public_key=keypair("alipay-platform").public_pem)[0]


@pytest.mark.parametrize("who, status", [
    ("operator", 200), ("merchant_admin", 200), ("other_admin", 200), ("store_manager", 403),
])
def test_admin_lists_accounts_to_operators_and_the_brands_admin_without_secrets(client, request, merchant, who,
                                                                                  status):
    account = _set_alipay(merchant)
    client.force_login(request.getfixturevalue(who))

    listing = client.get("/admin/payments/paymentaccount/")
    page = client.get(f"/admin/payments/paymentaccount/{account.pk}/change/")

    assert listing.status_code == status
    if who == "other_admin":  # another brand's admin does not see it
        assert "2021001" not in listing.content.decode() and page.status_code in (302, 404)
    elif status == 200:
        html = page.content.decode()
        assert page.status_code == 200 and account.private_key_hint in html
        assert "PRIVATE KEY" not in html and keypair("alipay-app").private_pem.splitlines()[1] not in html


def test_brand_admin_changes_the_app_id_in_the_admin_and_keeps_the_stored_key(client, merchant, merchant_admin):
    account = _set_alipay(merchant)
    client.force_login(merchant_admin)

    response = client.post(f"/admin/payments/paymentaccount/{account.pk}/change/", {
        "active": "on", "app_id": "2021999", "provider_public_key": keypair("alipay-platform").public_pem,
        "private_key": "", "apiv3_key": ""})

    assert response.status_code == 302, response.content.decode()[:2000]
    account.refresh_from_db()
    assert account.app_id == "2021999" and account.private_key() == keypair("alipay-app").private_pem


def test_channels_offered_follow_the_brands_accounts(client_for, store, consumer, merchant, settings, other_merchant):
    order = make_order(store=store, consumer=consumer)
    url = f"/api/v1/installments/{inst_of(order, 'booking').pk}/"
    assert client_for(consumer).get(url).json()["channels"] == ["sandbox"]
    no_account = client_for(consumer).post(url + "pay/", {"channel": "alipay_wap"}, format="json")
    assert no_account.status_code == 400 and no_account.json()["code"] == "channel_unavailable"
    assert no_account.json()["channel"] == "alipay_wap"

    _set_alipay(other_merchant)  # another brand's account is not this brand's
    assert client_for(consumer).get(url).json()["channels"] == ["sandbox"]
    account = _set_alipay(merchant)
    settings.PAYMENT_SANDBOX_ENABLED = False
    assert client_for(consumer).get(url).json()["channels"] == ["alipay_wap", "alipay_page"]
    assert client_for(consumer).get(f"/api/v1/orders/{order.pk}/").json()["payment_channels"] == [
        "alipay_wap", "alipay_page"]
    paid = client_for(consumer).post(url + "pay/", {"channel": "alipay_wap"}, format="json")
    assert paid.status_code == 201
    assert Payment.objects.get(pk=paid.json()["payment"]["id"]).account_id == account.pk


def test_a_currency_the_channel_cannot_take_is_a_400_naming_the_channel(client_for, store, consumer, merchant):
    _set_alipay(merchant)
    order = make_order(store=store, consumer=consumer, total=Decimal("100001"), currency="JPY")
    response = client_for(consumer).post(f"/api/v1/installments/{inst_of(order, 'booking').pk}/pay/",
                                         {"channel": "alipay_wap"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "channel_unavailable"
    assert response.json()["channel"] == "alipay_wap"


@pytest.mark.parametrize("body", [{"channel": "bitcoin"}, {"channel": 5}, {"channel": "sandbox", "openid": ["x"]},
                                  {"channel": "sandbox", "return_url": "https://evil.example/"}])
def test_bad_pay_input_is_a_400(client_for, order, consumer, body):
    response = client_for(consumer).post(f"/api/v1/installments/{inst_of(order, 'booking').pk}/pay/", body,
                                         format="json")
    assert response.status_code == 400


@given(fen_value=st.integers(min_value=0, max_value=10**14))
def test_fen_and_yuan_convert_exactly(fen_value):
    yuan = from_fen(fen_value)
    assert yuan == Decimal(fen_value) / 100 and fen(yuan) == fen_value


@given(yuan=st.decimals(min_value=0, max_value=Decimal("999999999999.99"), places=2))
def test_yuan_to_fen_is_exact(yuan):
    assert Decimal(fen(yuan)) == yuan * 100 and from_fen(fen(yuan)) == yuan


@pytest.mark.parametrize("active", [True, False])
def test_the_channels_annotated_on_the_order_row_are_those_the_accounts_give(store, consumer, merchant, settings,
                                                                             active):
    """payment_channels reads the brand's accounts with the order row (payments.plugin.annotate_channels); orders
    read without those annotations query the accounts: both give the same channels."""
    from payments.plugin import load_channels
    from workflows.models import ServiceOrder
    from workflows.selectors import order_detail_load, order_detail_queryset

    settings.PAYMENT_SANDBOX_ENABLED = False
    account = _set_alipay(merchant)
    PaymentAccount.objects.filter(pk=account.pk).update(active=active)
    order = make_order(store=store, consumer=consumer)
    annotated = order_detail_load(order_detail_queryset(user=consumer).filter(pk=order.pk))
    plain = order_detail_load(ServiceOrder.objects.filter(pk=order.pk))
    expected = {order.pk: ["alipay"] if active else []}
    assert load_channels(annotated) == load_channels(plain) == expected
    assert annotated[0].sections["payment_channels"] == plain[0].sections["payment_channels"] == expected[order.pk]
