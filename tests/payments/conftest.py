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
