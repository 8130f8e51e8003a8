"""Django admin: merchant staff see and change only their own tenant's rows."""

import pytest
from django.test import Client

from tenancy.models import Store, User

STORE_LIST = "/admin/tenancy/store/"
USER_ADD = "/admin/tenancy/user/add/"


@pytest.fixture
def login():
    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def world(
    merchant, store, store2, merchant_admin, store_manager, technician, operator,
    other_merchant, other_store, other_admin, other_technician, consumer,
):
    return {name: value for name, value in locals().items()}


def store_form(store, **changes):
    data = {
        "name": store.name, "code": store.code, "timezone": store.timezone, "address": store.address,
        "latitude": str(store.latitude), "longitude": str(store.longitude),
        "opens_at": "09:00", "closes_at": "18:00", "working_days": "[0, 1, 2, 3, 4, 5]",
        "travel_buffer_minutes": "0",
        # The daily capacities inline (none).
        "capacities-TOTAL_FORMS": "0", "capacities-INITIAL_FORMS": "0", "capacities-MIN_NUM_FORMS": "0",
        "capacities-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    "role, shown, hidden",
    [
        ("merchant_admin", ["Lumen Jing&#x27;an", "Lumen Pudong"], ["Harbor West Lake"]),
        ("store_manager", ["Lumen Jing&#x27;an"], ["Lumen Pudong", "Harbor West Lake"]),
        ("other_admin", ["Harbor West Lake"], ["Lumen Jing&#x27;an", "Lumen Pudong"]),
        ("operator", ["Lumen Jing&#x27;an", "Lumen Pudong", "Harbor West Lake"], []),
    ],
)
def test_store_changelist_per_role(world, login, role, shown, hidden):
    response = login(world[role]).get(STORE_LIST)
    assert response.status_code == 200
    page = response.content.decode()
    for name in shown:
        assert name in page
    for name in hidden:
        assert name not in page


def test_merchant_filter_does_not_list_other_merchants(world, login):
    page = login(world["merchant_admin"]).get(STORE_LIST).content.decode()
    assert "Harbor Test Appliances" not in page


@pytest.mark.usefixtures("english")
def test_opening_another_tenants_store_by_url_does_not_show_it(world, login):
    client = login(world["merchant_admin"])
    url = f"{STORE_LIST}{world['other_store'].pk}/change/"
    response = client.get(url)
    assert response.status_code == 302
    followed = client.get(url, follow=True)
    page = followed.content.decode()
    assert followed.status_code == 200
    assert "Harbor West Lake" not in page
    assert "doesn’t exist" in page or "doesn't exist" in page


def test_cannot_change_another_tenants_store_by_post(world, login):
    other_store = world["other_store"]
    response = login(world["merchant_admin"]).post(
        f"{STORE_LIST}{other_store.pk}/change/", store_form(other_store, name="Hijacked")
    )
    assert response.status_code == 302
    other_store.refresh_from_db()
    assert other_store.name == "Harbor West Lake"


def test_cannot_delete_another_tenants_store(world, login):
    other_store = world["other_store"]
    response = login(world["merchant_admin"]).post(f"{STORE_LIST}{other_store.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert Store.objects.filter(pk=other_store.pk).exists()


def test_merchant_admin_changes_own_store(world, login):
    store = world["store"]
    response = login(world["merchant_admin"]).post(
        f"{STORE_LIST}{store.pk}/change/", store_form(store, name="Renamed")
    )
    assert response.status_code == 302
    store.refresh_from_db()
    assert store.name == "Renamed"
    assert store.merchant == world["merchant"]


def test_merchant_admin_creates_a_store_in_own_merchant(world, login):
    data = store_form(world["store"], name="Lumen Xuhui", code="xuhui", merchant=world["other_merchant"].pk)
    response = login(world["merchant_admin"]).post(f"{STORE_LIST}add/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Store.objects.get(code="xuhui").merchant == world["merchant"]


def test_store_manager_sees_own_store_read_only(world, login):
    client = login(world["store_manager"])
    store = world["store"]
    assert client.get(f"{STORE_LIST}{store.pk}/change/").status_code == 200
    response = client.post(f"{STORE_LIST}{store.pk}/change/", store_form(store, name="Renamed"))
    assert response.status_code == 403
    store.refresh_from_db()
    assert store.name == "Lumen Jing'an"
    assert client.get(f"{STORE_LIST}{world['store2'].pk}/change/").status_code == 302


@pytest.mark.parametrize("role", ["technician", "consumer"])
def test_non_staff_roles_cannot_enter_the_admin(world, login, role):
    response = login(world[role]).get(STORE_LIST)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_user_add_page_offers_only_own_stores(world, login):
    response = login(world["merchant_admin"]).get(USER_ADD)
    assert response.status_code == 200
    page = response.content.decode()
    assert f'value="{world["store"].pk}"' in page
    assert f'value="{world["store2"].pk}"' in page
    assert f'value="{world["other_store"].pk}"' not in page
    assert "Harbor West Lake" not in page
    # No merchant picker, no way to grant superuser or platform-operator powers.
    assert 'name="merchant"' not in page
    assert 'name="is_superuser"' not in page
    assert 'value="platform_operator"' not in page


def test_operator_user_add_page_offers_every_store(world, login):
    page = login(world["operator"]).get(USER_ADD).content.decode()
    assert f'value="{world["other_store"].pk}"' in page
    assert 'name="merchant"' in page


def new_user_data(**extra):
    data = {
        "username": "new_tech", "password1": "Sturdy-pass-8821", "password2": "Sturdy-pass-8821",
        "usable_password": "true", "role": "technician",
    }
    data.update(extra)
    return data


def test_merchant_admin_creates_users_only_in_own_merchant(world, login):
    response = login(world["merchant_admin"]).post(
        USER_ADD, new_user_data(merchant=world["other_merchant"].pk, stores=[world["store"].pk])
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    user = User.objects.get(username="new_tech")
    assert user.merchant == world["merchant"]
    assert list(user.stores.all()) == [world["store"]]
    assert user.role == User.Role.TECHNICIAN and not user.is_staff and not user.is_superuser


def test_merchant_admin_cannot_attach_another_tenants_store(world, login):
    response = login(world["merchant_admin"]).post(USER_ADD, new_user_data(stores=[world["other_store"].pk]))
    assert response.status_code == 200  # the form comes back with an error
    assert not User.objects.filter(username="new_tech").exists()


def test_merchant_admin_cannot_create_an_operator(world, login):
    response = login(world["merchant_admin"]).post(
        USER_ADD, new_user_data(role="platform_operator", is_superuser="on", is_staff="on")
    )
    assert response.status_code == 200
    assert not User.objects.filter(username="new_tech").exists()


def test_merchant_admin_cannot_open_another_tenants_user(world, login):
    client = login(world["merchant_admin"])
    response = client.get(f"/admin/tenancy/user/{world['other_technician'].pk}/change/", follow=True)
    assert "b_tech" not in response.content.decode()
    page = client.get("/admin/tenancy/user/").content.decode()
    assert "a_tech" in page and "b_tech" not in page and "ops_user" not in page and "a_consumer" not in page


@pytest.mark.usefixtures("english")
def test_duplicate_store_code_is_a_form_error_not_a_crash(world, login):
    data = store_form(world["store"], name="Another Jing'an")  # same code as `store`, same merchant
    response = login(world["merchant_admin"]).post(f"{STORE_LIST}add/", data)
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert Store.objects.filter(code="jingan").count() == 1


def test_same_store_code_in_another_merchant_is_fine(world, login):
    data = store_form(world["store"], name="Harbor Jing'an")  # `jingan` is tenant A's code only
    response = login(world["other_admin"]).post(f"{STORE_LIST}add/", data)
    assert response.status_code == 302
    assert Store.objects.get(code="jingan", merchant=world["other_merchant"]).name == "Harbor Jing'an"


def test_the_user_form_stores_phones_in_e164_and_search_finds_any_spelling(world, login):
    client = login(world["merchant_admin"])
    response = client.post(USER_ADD, new_user_data(stores=[world["store"].pk], phone=" 139-0000-0456 "))
    assert response.status_code == 302, response.content.decode()[:3000]
    assert User.objects.get(username="new_tech").phone == "+8613900000456"
    page = client.get("/admin/tenancy/user/", {"q": "139 0000 0456"}).content.decode()
    assert "new_tech" in page and "a_tech" not in page


def test_the_user_form_refuses_an_invalid_phone(world, login):
    response = login(world["merchant_admin"]).post(
        USER_ADD, new_user_data(stores=[world["store"].pk], phone="12345")
    )
    assert response.status_code == 200
    assert "Not a valid phone number" in response.content.decode()
    assert not User.objects.filter(username="new_tech").exists()
