import pytest

from tests.factories.workflows import make_order
from workflows import hooks


@pytest.fixture(autouse=True)
def _payment_guards_only(monkeypatch):
    """Other apps (vouchers, field work) add guards to book/start/complete; these tests drive the
    engine directly as staff, so they keep only the payment guards (unblock, settle)."""
    kept = {t: [fn for fn in fns if fn.__module__.startswith("payments.")] for t, fns in hooks._guards.items()}
    monkeypatch.setattr(hooks, "_guards", hooks.defaultdict(list, kept))


@pytest.fixture
def merchant(db):
    from tests.factories import MerchantFactory

    return MerchantFactory(name="Lumen Test Furniture", slug="lumen-test", tier="enterprise")


@pytest.fixture
def order(store, consumer, store_manager):
    return make_order(store=store, consumer=consumer, actor=store_manager)


@pytest.fixture
def alipay(settings, merchant):
    """Alipay on loopback, and the brand's Alipay account pointing at it."""
    from payments.services import payment_account_set
    from tests.payments.fake_providers import AlipayFake

    fake = AlipayFake().start()
    settings.ALIPAY_GATEWAY_URL = fake.gateway
    fake.account, _ = payment_account_set(merchant=merchant, provider="alipay", app_id=fake.app_id,
                                          private_key=fake.app_keys.private_pem,
                                          provider_public_key=fake.alipay_keys.public_pem)
    yield fake
    fake.stop()


@pytest.fixture
def wechatpay(settings, merchant):
    """WeChat Pay API v3 on loopback, and the brand's WeChat Pay account pointing at it."""
    from payments.services import payment_account_set
    from tests.payments.fake_providers import WeChatPayFake

    fake = WeChatPayFake().start()
    settings.WECHATPAY_API_BASE_URL = fake.base
    fake.account, _ = payment_account_set(
        merchant=merchant, provider="wechatpay", app_id=fake.appid, mch_id=fake.mchid,
        merchant_serial_no=fake.serial_no, private_key=fake.merchant_keys.private_pem, apiv3_key=fake.apiv3_key,
        provider_public_key=fake.platform_keys.public_pem, provider_public_key_id=fake.public_key_id)
    yield fake
    fake.stop()
