"""tenancy.demo.load_tenancy_demo: the contract's demo accounts exist, work, and a rerun changes nothing."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.throttling import ScopedRateThrottle

from tenancy.demo import load_tenancy_demo
from tenancy.models import Merchant, Store, User

DEMO_USERS = [
    "brand_admin", "store_manager", "tech_li", "tech_wang", "consumer_zhang", "consumer_chen", "ops",
    "other_admin", "other_manager", "tech_zhao", "consumer_wu",
]


def snapshot():
    return {
        "merchants": list(Merchant.objects.order_by("pk").values()),
        "stores": list(Store.objects.order_by("pk").values()),
        "users": list(User.objects.order_by("pk").values()),
        "memberships": list(User.stores.through.objects.order_by("pk").values()),
    }


@pytest.fixture
def demo(db):
    return load_tenancy_demo()


def test_running_twice_changes_nothing(demo):
    before = snapshot()
    again = load_tenancy_demo()
    assert snapshot() == before  # same rows, same values, same password hashes
    assert again["users"]["brand_admin"].pk == demo["users"]["brand_admin"].pk
    assert Merchant.objects.count() == 2 and Store.objects.count() == 3
    assert User.objects.count() == len(DEMO_USERS)


def test_rerun_repairs_a_changed_account(demo):
    user = User.objects.get(username="tech_li")
    user.set_password("forgotten")
    user.save()
    user.stores.clear()
    load_tenancy_demo()
    user.refresh_from_db()
    assert user.check_password("demo-pass-123")
    assert list(user.stores.all()) == [demo["stores"][0]]


def test_demo_tenants(demo):
    lumen, harbor = demo["merchant"], demo["other_merchant"]
    assert (lumen.name, lumen.slug, lumen.tier) == ("Lumen Custom Furniture", "lumen", "enterprise")
    assert (harbor.name, harbor.slug, harbor.tier) == ("Harbor Appliances", "harbor", "growth")
    assert [s.merchant for s in demo["stores"]] == [lumen, lumen]
    assert [s.merchant for s in demo["other_stores"]] == [harbor]
    for store in [*demo["stores"], *demo["other_stores"]]:
        store.full_clean()
        assert store.timezone == "Asia/Shanghai"
        assert store.working_days == [0, 1, 2, 3, 4, 5]
        assert (store.opens_at.hour, store.closes_at.hour) == (9, 18)
    assert all(30 < s.latitude < 32 and 120 < s.longitude < 122 for s in Store.objects.all())
    assert "Shanghai" in demo["stores"][0].address and "Hangzhou" in demo["other_stores"][0].address


def test_demo_roles_and_tenants(demo):
    users = demo["users"]
    lumen, harbor = demo["merchant"], demo["other_merchant"]
    first_store = demo["stores"][0]
    expected = {
        "brand_admin": ("merchant_admin", lumen, [], True),
        "store_manager": ("store_manager", lumen, [first_store], True),
        "tech_li": ("technician", lumen, [first_store], False),
        "tech_wang": ("technician", lumen, [first_store], False),
        "consumer_zhang": ("consumer", None, [], False),
        "consumer_chen": ("consumer", None, [], False),
        "ops": ("platform_operator", None, [], True),
        "other_admin": ("merchant_admin", harbor, [], True),
        "other_manager": ("store_manager", harbor, demo["other_stores"], True),
        "tech_zhao": ("technician", harbor, demo["other_stores"], False),
        "consumer_wu": ("consumer", None, [], False),
    }
    assert set(users) == set(expected)
    for username, (role, merchant, stores, is_staff) in expected.items():
        user = users[username]
        user.full_clean()
        assert (user.role, user.merchant, list(user.stores.all()), user.is_staff) == (
            role, merchant, stores, is_staff
        ), username
    assert users["consumer_zhang"].phone == "+8613800000001"
    assert users["consumer_chen"].phone == "+8613800000002"
    assert users["consumer_wu"].phone == "+8613800000003"
    assert users["tech_li"].display_name == "李师傅"


def test_every_demo_login_works_through_the_token_endpoint(demo, api_client, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"login": "1000/min"})
    for username in DEMO_USERS:
        response = api_client().post(
            "/api/v1/auth/token/", {"username": username, "password": "demo-pass-123"}, format="json"
        )
        assert response.status_code == 200, (username, response.content)
        assert Token.objects.get(key=response.json()["token"]).user.username == username


def test_demo_tenants_are_isolated_over_the_api(demo, client_for):
    users = demo["users"]
    lumen_stores = sorted(s.pk for s in demo["stores"])
    rows = client_for(users["brand_admin"]).get("/api/v1/stores/").json()["results"]
    assert sorted(r["id"] for r in rows) == lumen_stores
    harbor_store = demo["other_stores"][0]
    assert client_for(users["brand_admin"]).get(f"/api/v1/stores/{harbor_store.pk}/").status_code == 404
    techs = client_for(users["other_admin"]).get("/api/v1/technicians/").json()["results"]
    assert [t["username"] for t in techs] == ["tech_zhao"]
