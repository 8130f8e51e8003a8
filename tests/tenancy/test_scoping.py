"""tenancy.scoping.visible_to: what each role may see of stores and users."""

import pytest
from django.contrib.auth.models import AnonymousUser

from tenancy.models import Merchant, Store, User
from tenancy.scoping import user_can_see, visible_to


@pytest.fixture
def world(
    merchant, store, store2, merchant_admin, store_manager, technician, technician2, consumer, consumer2,
    operator, other_merchant, other_store, other_admin, other_store_manager, other_technician, other_consumer,
):
    return {name: value for name, value in locals().items()}


def names(qs):
    return sorted(obj.name if hasattr(obj, "code") else obj.username for obj in qs)


@pytest.mark.parametrize(
    "role, expected",
    [
        ("merchant_admin", ["Lumen Jing'an", "Lumen Pudong"]),
        ("store_manager", ["Lumen Jing'an"]),
        ("technician", ["Lumen Jing'an"]),
        ("consumer", []),
        ("operator", ["Harbor West Lake", "Lumen Jing'an", "Lumen Pudong"]),
        ("other_admin", ["Harbor West Lake"]),
        ("other_store_manager", ["Harbor West Lake"]),
        ("other_technician", ["Harbor West Lake"]),
    ],
)
def test_stores_visible_to_each_role(world, role, expected):
    assert names(visible_to(Store.objects.all(), world[role])) == expected


def test_stores_invisible_to_anonymous(world):
    assert not visible_to(Store.objects.all(), AnonymousUser()).exists()


def test_store_manager_of_two_stores_sees_both_once(store, store2, other_store):
    from tests.factories import StoreManagerFactory

    manager = StoreManagerFactory(stores=[store, store2])
    qs = visible_to(Store.objects.all(), manager)
    assert sorted(s.pk for s in qs) == sorted([store.pk, store2.pk])
    assert qs.count() == 2


def test_technician_of_two_stores_sees_both(store, store2, other_store):
    from tests.factories import TechnicianFactory

    tech = TechnicianFactory(stores=[store, store2])
    assert sorted(s.pk for s in visible_to(Store.objects.all(), tech)) == sorted([store.pk, store2.pk])


@pytest.mark.parametrize(
    "role, expected",
    [
        # The whole merchant's staff, no consumers, no operators, nobody from tenant B.
        ("merchant_admin", ["a_admin", "a_manager", "a_tech", "a_tech2"]),
        # Staff attached to the manager's stores.
        ("store_manager", ["a_manager", "a_tech", "a_tech2"]),
        ("technician", ["a_tech"]),
        ("consumer", ["a_consumer"]),
        ("operator", [
            "a_admin", "a_consumer", "a_consumer2", "a_manager", "a_tech", "a_tech2",
            "b_admin", "b_consumer", "b_manager", "b_tech", "ops_user",
        ]),
        ("other_admin", ["b_admin", "b_manager", "b_tech"]),
        ("other_consumer", ["b_consumer"]),
    ],
)
def test_users_visible_to_each_role(world, role, expected):
    assert names(visible_to(User.objects.all(), world[role])) == expected


def test_users_invisible_to_anonymous(world):
    assert not visible_to(User.objects.all(), AnonymousUser()).exists()


def test_store_manager_does_not_see_staff_of_a_sibling_store(store2, store_manager):
    from tests.factories import TechnicianFactory

    sibling_tech = TechnicianFactory(stores=[store2])
    assert not visible_to(User.objects.filter(pk=sibling_tech.pk), store_manager).exists()


@pytest.mark.parametrize(
    "role, expected",
    [
        ("merchant_admin", ["Lumen Test Furniture"]),
        ("store_manager", ["Lumen Test Furniture"]),
        ("technician", []),
        ("consumer", []),
        ("operator", ["Harbor Test Appliances", "Lumen Test Furniture"]),
    ],
)
def test_merchants_visible_to_each_role(world, role, expected):
    assert sorted(m.name for m in visible_to(Merchant.objects.all(), world[role])) == expected


def test_visible_to_keeps_the_callers_filters(world):
    qs = Store.objects.filter(code="pudong")
    assert names(visible_to(qs, world["merchant_admin"])) == ["Lumen Pudong"]
    assert names(visible_to(qs, world["other_admin"])) == []


def test_superuser_sees_everything_whatever_the_role(world):
    root = User.objects.create_superuser("root", "root@example.com", "demo-pass-123")
    assert visible_to(Store.objects.all(), root).count() == 3


def test_user_can_see(world):
    assert user_can_see(world["merchant_admin"], world["store"])
    assert not user_can_see(world["merchant_admin"], world["other_store"])
    assert not user_can_see(world["store_manager"], world["store2"])
