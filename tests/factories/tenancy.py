"""Factories for merchants, stores and the users of each role.

Staff factories keep the tenant consistent: a store manager's or technician's merchant is the
merchant of the stores given to it (`stores=[store]`), so no test builds a cross-tenant user by
accident.
"""

from datetime import time
from decimal import Decimal

import factory
from django.utils import timezone
from factory import fuzzy

from tenancy.models import Merchant, Store, User

SHANGHAI_LAT = Decimal("31.230416")
SHANGHAI_LNG = Decimal("121.473701")


def _offset() -> Decimal:
    """A small random offset (a few km) as a 6-place Decimal."""
    return fuzzy.FuzzyDecimal(-0.05, 0.05, precision=6).fuzz()


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Brand {n}")
    slug = factory.Sequence(lambda n: f"brand-{n}")
    tier = Merchant.Tier.GROWTH


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store

    merchant = factory.SubFactory(MerchantFactory)
    name = factory.Sequence(lambda n: f"Store {n}")
    code = factory.Sequence(lambda n: f"store-{n}")
    timezone = "Asia/Shanghai"
    address = factory.Sequence(lambda n: f"{n} Nanjing West Road, Jing'an District, Shanghai")
    latitude = factory.LazyFunction(lambda: (SHANGHAI_LAT + _offset()).quantize(Decimal("0.000001")))
    longitude = factory.LazyFunction(lambda: (SHANGHAI_LNG + _offset()).quantize(Decimal("0.000001")))
    opens_at = time(9, 0)
    closes_at = time(18, 0)
    working_days = factory.LazyFunction(lambda: [0, 1, 2, 3, 4, 5])


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("demo-pass-123")
    role = User.Role.CONSUMER
    merchant = None
    is_staff = False
    date_joined = factory.LazyFunction(timezone.now)


class ConsumerFactory(UserFactory):
    username = factory.Sequence(lambda n: f"consumer{n}")
    role = User.Role.CONSUMER
    phone = factory.Sequence(lambda n: f"+86138{n:08d}")


class OperatorFactory(UserFactory):
    username = factory.Sequence(lambda n: f"operator{n}")
    role = User.Role.PLATFORM_OPERATOR
    is_staff = True


class MerchantAdminFactory(UserFactory):
    username = factory.Sequence(lambda n: f"merchant_admin{n}")
    role = User.Role.MERCHANT_ADMIN
    merchant = factory.SubFactory(MerchantFactory)
    is_staff = True


class _StoreStaffFactory(UserFactory):
    """Staff attached to stores. Pass `stores=[...]`; the merchant follows the first store.

    Without stores, one store of the user's merchant is created.
    """

    class Params:
        store_list = None

    merchant = factory.LazyAttribute(
        lambda o: o.store_list[0].merchant if o.store_list else MerchantFactory()
    )

    @factory.post_generation
    def stores(obj, create, extracted, **kwargs):  # noqa: N805
        if not create:
            return
        stores = list(extracted) if extracted is not None else [StoreFactory(merchant=obj.merchant)]
        foreign = [s for s in stores if s.merchant_id != obj.merchant_id]
        if foreign:
            raise ValueError(f"{obj.username}: stores {foreign} belong to another merchant")
        obj.stores.set(stores)

    @classmethod
    def _generate(cls, strategy, params):
        # Let `stores=[...]` also decide the merchant, before the user row is written.
        extracted = params.get("stores")
        if extracted and "merchant" not in params:
            params = {**params, "store_list": list(extracted)}
        return super()._generate(strategy, params)


class StoreManagerFactory(_StoreStaffFactory):
    username = factory.Sequence(lambda n: f"store_manager{n}")
    role = User.Role.STORE_MANAGER
    is_staff = True


class TechnicianFactory(_StoreStaffFactory):
    username = factory.Sequence(lambda n: f"technician{n}")
    role = User.Role.TECHNICIAN
    is_staff = False
    first_name = factory.Sequence(lambda n: f"Tech{n}")
    last_name = "Li"
    phone = factory.Sequence(lambda n: f"+86139{n:08d}")
    skills = factory.LazyFunction(lambda: ["measure", "install"])
