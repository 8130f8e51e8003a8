import pytest

from tenancy.models import User
from tests.factories import StoreFactory, StoreManagerFactory, TechnicianFactory


def test_staff_factory_takes_the_merchant_of_its_store(store, merchant):
    manager = StoreManagerFactory(stores=[store])
    tech = TechnicianFactory(stores=[store])
    assert manager.merchant == merchant and list(manager.stores.all()) == [store]
    assert tech.merchant == merchant and tech.role == User.Role.TECHNICIAN
    assert manager.check_password("demo-pass-123")


def test_staff_factory_refuses_a_store_of_another_merchant(merchant, other_store):
    with pytest.raises(ValueError, match="another merchant"):
        TechnicianFactory(merchant=merchant, stores=[other_store])


@pytest.mark.django_db
def test_store_factory_makes_a_shanghai_store():
    store = StoreFactory()
    assert store.timezone == "Asia/Shanghai"
    assert abs(float(store.latitude) - 31.23) < 0.1 and abs(float(store.longitude) - 121.47) < 0.1
    store.full_clean()
