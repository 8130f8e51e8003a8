"""core.compiled: a queryset compiled once per connection answers, for any values, what Django's own queryset
answers, in one statement, and refuses what it cannot keep (a value the SQL lost, FOR UPDATE outside a
transaction)."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import Count, F
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from core.compiled import CompiledQuery
from tenancy.models import Store
from tests.factories.tenancy import MerchantFactory, StoreFactory

pytestmark = pytest.mark.django_db


def stores_of_merchant(merchant_id):
    return (Store.objects.filter(merchant_id=merchant_id).select_related("merchant")
            .annotate(merchant_name=F("merchant__name")).order_by("pk"))


STORES = CompiledQuery("test.stores_of_merchant", stores_of_merchant)


@pytest.fixture
def two_merchants():
    a, b = MerchantFactory(), MerchantFactory()
    StoreFactory.create_batch(2, merchant=a)
    StoreFactory.create_batch(3, merchant=b)
    return a.pk, b.pk


def as_seen(stores):
    return [(s.pk, s.name, s.merchant.pk, s.merchant.name, s.merchant_name, s._state.adding) for s in stores]


def test_models_as_django_builds_them_for_each_value(two_merchants):
    for merchant_id in (*two_merchants, *two_merchants):
        with CaptureQueriesContext(connection) as queries:
            compiled = STORES.models(merchant_id=merchant_id)
        assert len(queries) == 1  # the select_related row comes along, nothing read later
        assert as_seen(compiled) == as_seen(stores_of_merchant(merchant_id))
    assert [len(STORES.models(merchant_id=m)) for m in two_merchants] == [2, 3]


def test_shared_related_rows_are_one_instance_with_djangos_values(two_merchants):
    """share_related: the stores of one merchant carry one merchant instance (the engine's lock of an order with its
    stages: one order for all its stages), with what Django's own rows carry; without it each row has its own."""
    for merchant_id in two_merchants:
        shared = STORES.models(merchant_id=merchant_id, share_related=True)
        assert as_seen(shared) == as_seen(stores_of_merchant(merchant_id))
        assert len({id(store.merchant) for store in shared}) == 1
        apart = STORES.models(merchant_id=merchant_id)
        assert len({id(store.merchant) for store in apart}) == len(apart) > 1
    other = STORES.models(merchant_id=two_merchants[1], share_related=True)
    assert other[0].merchant is not shared[0].merchant  # shared within one read only


def test_the_sql_sent_is_djangos_own_compiled_once(two_merchants, monkeypatch):
    first, second = two_merchants
    STORES.models(merchant_id=first)  # compiled here (or by an earlier test on this connection)
    monkeypatch.setattr(CompiledQuery, "_compile", lambda *a: pytest.fail("compiled again"))
    with CaptureQueriesContext(connection) as queries:
        STORES.models(merchant_id=second)
    with CaptureQueriesContext(connection) as django:
        list(stores_of_merchant(second))
    assert queries[0]["sql"] == django[0]["sql"]


def test_values_rows_and_lists_of_any_length(two_merchants):
    by_ids = CompiledQuery("test.stores_by_ids", lambda ids: (
        Store.objects.filter(pk__in=ids).values("pk", "name", stores=Count("merchant__stores")).order_by("pk")))
    ids = list(Store.objects.order_by("pk").values_list("pk", flat=True))
    for chosen in (ids[:1], ids[1:4], ids, ids[2:3]):
        expected = list(Store.objects.filter(pk__in=chosen).values("pk", "name", stores=Count("merchant__stores"))
                        .order_by("pk"))
        assert by_ids.values(ids=chosen) == expected


def test_values_list_rows_in_its_own_order(two_merchants):
    def build(merchant_id):  # an aggregate between two fields: Django's row puts it last, values_list() here
        return (Store.objects.filter(merchant_id=merchant_id).values_list("name", Count("merchant__stores"), "pk")
                .order_by("pk"))

    query = CompiledQuery("test.values_list", build)
    for merchant_id in two_merchants:
        assert query.rows(merchant_id=merchant_id) == list(build(merchant_id))
    with pytest.raises(ImproperlyConfigured, match="values"):
        STORES.rows(merchant_id=two_merchants[0])


def test_a_value_the_statement_lost_is_refused(two_merchants):
    forgets = CompiledQuery("test.forgets", lambda merchant_id: Store.objects.all())
    with pytest.raises(ImproperlyConfigured, match="merchant_id"):
        forgets.models(merchant_id=two_merchants[0])


def test_matching_nothing_sends_nothing(two_merchants):
    nothing = CompiledQuery("test.nothing", lambda merchant_id: Store.objects.filter(merchant_id=merchant_id).none())
    with CaptureQueriesContext(connection) as queries:
        assert nothing.models(merchant_id=two_merchants[0]) == []
    assert len(queries) == 0


@pytest.mark.django_db(transaction=True)  # outside the test's own transaction
def test_for_update_only_inside_a_transaction(two_merchants):
    locking = CompiledQuery("test.locking", lambda merchant_id: (
        Store.objects.select_for_update().filter(merchant_id=merchant_id).order_by("pk")))
    with transaction.atomic():
        assert len(locking.models(merchant_id=two_merchants[1])) == 3
    if connection.features.has_select_for_update:
        with pytest.raises(TransactionManagementError):
            locking.models(merchant_id=two_merchants[1])


def test_another_shape_compiles_another_statement(two_merchants):
    built = []

    def build(merchant_id):
        built.append(merchant_id)
        return Store.objects.filter(merchant_id=merchant_id)

    query = CompiledQuery("test.shapes", build)
    for shape in ("a", "b", "a", "b"):
        query.models(merchant_id=two_merchants[0], shape=(shape,))
    assert len(built) == 2
