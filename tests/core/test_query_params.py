"""A query parameter is given once: Django reads a repeated one as its last value, so `?store=junk&store=` was
answered as if no store had been asked for (the fuzzer found it on the metrics). Parameters a view takes as
lists (`?stores=1&stores=2`) still take several values, and parameters no view reads are ignored as before."""

import pytest

from tests.factories import StoreFactory, TechnicianFactory
from tests.factories.workflows import make_order, make_template

pytestmark = pytest.mark.django_db


def test_a_repeated_filter_is_refused_not_read_as_its_last_value(admin_client_api, store):
    response = admin_client_api.get("/api/v1/platform/metrics/?store=1.1e%2B93&store=")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and list(body["errors"]) == ["store"]
    assert "orders" not in body  # no figures for a question that was not understood


@pytest.mark.parametrize("query", ["store={a}&store={b}", "page_size=5&page_size=", "status=active&status=active"])
def test_the_order_list_refuses_a_parameter_given_twice(manager_client, store, store2, query):
    response = manager_client.get("/api/v1/orders/?" + query.format(a=store.pk, b=store2.pk))
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_the_same_parameter_once_each_is_fine(manager_client, merchant, store, consumer):
    order = make_order(store=store, consumer=consumer, template=make_template(merchant=merchant, stores=[store]))
    response = manager_client.get(f"/api/v1/orders/?store={store.pk}&page_size=5")
    assert response.status_code == 200
    assert [o["id"] for o in response.json()["results"]] == [order.pk]


def test_a_list_parameter_still_takes_several_values(admin_client_api, merchant, store, store2):
    at_store = TechnicianFactory(stores=[store])
    at_store2 = TechnicianFactory(stores=[store2])
    TechnicianFactory(stores=[StoreFactory(merchant=merchant)])
    response = admin_client_api.get(f"/api/v1/technicians/?stores={store.pk}&stores={store2.pk}&page_size=100")
    assert response.status_code == 200
    assert {t["id"] for t in response.json()["results"]} == {at_store.pk, at_store2.pk}


def test_a_parameter_no_view_reads_is_ignored_even_when_repeated(manager_client, store):
    response = manager_client.get(f"/api/v1/stores/{store.pk}/?utm=1&utm=2")
    assert response.status_code == 200 and response.json()["id"] == store.pk


def test_the_error_names_the_parameter_on_every_kind_of_reader(admin_client_api, merchant, store):
    """Filters (django-filter), serializers of query parameters and views reading one parameter themselves."""
    template = make_template(merchant=merchant, stores=[store])
    for url, name in ((f"/api/v1/templates/{template.pk}/diagram/?format=svg&format=mermaid", "format"),
                      (f"/api/v1/templates/{template.pk}/split-preview/?total=100&total=200", "total"),
                      ("/api/v1/appointments/?date=2026-03-01&date=2026-03-02", "date")):
        response = admin_client_api.get(url)
        assert response.status_code == 400, url
        assert list(response.json()["errors"]) == [name], url


@pytest.mark.parametrize("size, expected", [("9" * 5000, 200), ("0" * 5000, 400), ("0" * 5000 + "5", 200),
                                            ("100" + "0" * 20, 200)], ids=["nines", "zeros", "padded-5", "huge"])
def test_a_page_size_of_thousands_of_digits_is_capped_or_refused_never_a_500(manager_client, size, expected):
    response = manager_client.get(f"/api/v1/stores/?page_size={size}")
    assert response.status_code == expected



@pytest.mark.parametrize("value", ["0.0", "{pk}.0", "{pk}.", "1e2", "{pk}x"])
def test_an_id_filter_takes_digits_only(manager_client, merchant, store, consumer, value):
    """Django's IntegerField reads "12.0" as 12: the schema says integer, so such a value is a 400 naming the
    parameter, never a list filtered by a number the client did not write (the fuzzer found `?store=0.0`)."""
    make_order(store=store, consumer=consumer, template=make_template(merchant=merchant, stores=[store]))
    response = manager_client.get("/api/v1/orders/?store=" + value.format(pk=store.pk))
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["store"]
    assert manager_client.get(f"/api/v1/orders/?store={store.pk}").json()["count"] == 1
