"""tenancy 0003 rewrites stored phones to E.164: safely (duplicates and invalid numbers are left for a
person) and idempotently."""

import importlib

from django.apps import apps

from tenancy.models import User
from tests.factories.tenancy import ConsumerFactory, TechnicianFactory

migration = importlib.import_module("tenancy.migrations.0003_normalise_user_phones")


def stored(user):
    return User.objects.values_list("phone", flat=True).get(pk=user.pk)


def test_phones_are_rewritten_to_e164_and_a_second_run_changes_nothing(store):
    typed = ConsumerFactory()
    User.objects.filter(pk=typed.pk).update(phone="138 0000 0042")
    national = TechnicianFactory(stores=[store])
    User.objects.filter(pk=national.pk).update(phone="13900000043")
    blank = ConsumerFactory()
    User.objects.filter(pk=blank.pk).update(phone="")
    fine = ConsumerFactory(phone="+8613800000044")
    broken = ConsumerFactory()
    User.objects.filter(pk=broken.pk).update(phone="12345")

    migration.normalise_phones(apps, None)
    assert stored(typed) == "+8613800000042"
    assert stored(national) == "+8613900000043"
    assert stored(blank) is None
    assert stored(fine) == "+8613800000044"
    assert stored(broken) == "12345"  # not a number: left for a person

    before = list(User.objects.order_by("pk").values_list("pk", "phone"))
    migration.normalise_phones(apps, None)
    assert list(User.objects.order_by("pk").values_list("pk", "phone")) == before


def test_a_duplicate_account_of_the_same_number_is_left_as_it_is(db):
    zhang = ConsumerFactory(phone="+8613800000001")
    duplicate = ConsumerFactory()
    User.objects.filter(pk=duplicate.pk).update(phone="13800000001")  # what the old order form created
    migration.normalise_phones(apps, None)
    assert stored(zhang) == "+8613800000001"
    assert stored(duplicate) == "13800000001"


def test_demo_and_factory_phones_are_already_e164(db, store):
    """So the migration has nothing to rewrite in the demo or the tests' data."""
    from tenancy.demo import USERS
    from tenancy.phones import normalize_phone

    phones = [fields["phone"] for *_, fields in USERS if "phone" in fields]
    phones += [ConsumerFactory().phone for _ in range(3)] + [TechnicianFactory(stores=[store]).phone for _ in range(3)]
    assert phones and all(normalize_phone(p) == p for p in phones)
