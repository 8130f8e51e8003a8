"""The brand's own order numbers (issue 21, point 8): `external_ref` unique per brand; creating with one that
exists answers the existing order (200); the list filters by it; nobody sees another store's or tenant's order
through it."""

import pytest
from django.db import IntegrityError, transaction

from tenancy.models import User
from tests.factories.workflows import make_order, make_template
from tests.workflows.test_order_api import order_payload
from workflows import services
from workflows.models import OrderEvent, ServiceOrder

pytestmark = pytest.mark.django_db


def test_a_retried_import_answers_the_order_it_made(client_for, store_manager, merchant, store):
    template = make_template(merchant=merchant, stores=[store])
    api = client_for(store_manager)
    first = api.post("/api/v1/orders/", order_payload(template, store, external_ref="TM-2026-0001"), format="json")
    assert first.status_code == 201, first.json()
    assert first.json()["external_ref"] == "TM-2026-0001"
    # A retry (even with another consumer or amount: the number decides) answers the same order, unchanged.
    again = api.post("/api/v1/orders/", order_payload(
        template, store, external_ref="TM-2026-0001", total_amount="1.00",
        consumer={"phone": "+8613900000099"}), format="json")
    assert again.status_code == 200, again.json()
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["total_amount"] == "12000.00"
    assert ServiceOrder.objects.count() == 1
    assert OrderEvent.objects.filter(kind="order.created").count() == 1
    assert not User.objects.filter(phone="+8613900000099").exists()


def test_without_external_ref_every_post_makes_an_order(client_for, store_manager, merchant, store):
    template = make_template(merchant=merchant, stores=[store])
    api = client_for(store_manager)
    for ref in ("", "", "  "):
        response = api.post("/api/v1/orders/", order_payload(template, store, external_ref=ref), format="json")
        assert response.status_code == 201 and response.json()["external_ref"] == ""
    assert api.post("/api/v1/orders/", order_payload(template, store), format="json").status_code == 201
    assert ServiceOrder.objects.count() == 4


def test_the_number_is_unique_per_brand_not_across_brands(client_for, store_manager, other_store_manager,
                                                         merchant, store, other_merchant, other_store):
    ours = make_template(merchant=merchant, stores=[store])
    theirs = make_template(merchant=other_merchant, stores=[other_store])
    a = client_for(store_manager).post("/api/v1/orders/", order_payload(ours, store, external_ref="JD-7"),
                                       format="json")
    b = client_for(other_store_manager).post("/api/v1/orders/", order_payload(theirs, other_store,
                                                                              external_ref="JD-7"), format="json")
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]


def test_the_database_refuses_a_second_order_with_the_number(merchant, store, consumer):
    order = make_order(store=store, consumer=consumer)
    ServiceOrder.objects.filter(pk=order.pk).update(external_ref="X-1")
    other = make_order(store=store, consumer=consumer)
    with pytest.raises(IntegrityError), transaction.atomic():
        ServiceOrder.objects.filter(pk=other.pk).update(external_ref="X-1")


def test_the_number_at_a_store_the_caller_does_not_work_for_is_a_409(client_for, merchant_admin, store_manager,
                                                                     merchant, store, store2):
    template = make_template(merchant=merchant, stores=[store, store2])
    made = client_for(merchant_admin).post("/api/v1/orders/", order_payload(template, store2, external_ref="R-9"),
                                           format="json")
    assert made.status_code == 201
    response = client_for(store_manager).post("/api/v1/orders/", order_payload(template, store, external_ref="R-9"),
                                              format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "external_ref_taken"
    assert "id" not in response.json()
    assert ServiceOrder.objects.count() == 1


def test_a_lost_race_answers_the_winner(merchant, store, consumer, store_manager):
    """Two imports that both found no order: the second insert hits the unique constraint and gets the first."""
    template = make_template(merchant=merchant, stores=[store])
    fields = dict(template=template, store=store, total_amount="100.00", currency="CNY", service_address="1 Road",
                  latitude="31.230000", longitude="121.470000", external_ref="RACE-1", actor=store_manager)
    first = services.order_create(consumer=consumer, **fields)
    second = services.order_create(consumer=consumer, **fields)  # no look-up first: the insert is refused
    assert second.pk == first.pk
    assert ServiceOrder.objects.count() == 1


@pytest.mark.parametrize("ref", ["x" * 65, 123, ["A"]])
def test_a_bad_external_ref_is_a_400(client_for, store_manager, merchant, store, ref):
    template = make_template(merchant=merchant, stores=[store])
    response = client_for(store_manager).post("/api/v1/orders/", order_payload(template, store, external_ref=ref),
                                              format="json")
    assert response.status_code == 400 and "external_ref" in response.json()["errors"]


@pytest.mark.parametrize("actor, count", [
    ("store_manager", 1), ("merchant_admin", 1), ("consumer", 1), ("other_admin", 0), ("other_store_manager", 0),
    ("consumer2", 0), ("technician", 0),
])
def test_the_list_filters_by_it_within_what_the_caller_sees(request, client_for, store, consumer, actor, count):
    order = make_order(store=store, consumer=consumer)
    ServiceOrder.objects.filter(pk=order.pk).update(external_ref="TB-42")
    make_order(store=store, consumer=consumer)  # another order, without the number
    response = client_for(request.getfixturevalue(actor)).get("/api/v1/orders/?external_ref=TB-42")
    assert response.status_code == 200
    assert [o["id"] for o in response.json()["results"]] == [order.pk] * count
    if count:
        assert response.json()["results"][0]["external_ref"] == "TB-42"
