"""Orders through the API: creation, detail in constant queries, visibility, concurrent transitions."""

import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories.workflows import linear_stages, make_order, stage_of
from workflows import services
from workflows.models import OrderEvent, ServiceOrder
from workflows.reference import CUSTOM_WARDROBE

APPROVAL_STAGES = {"requires_approval": True, "max_rework_rounds": 0}


def order_payload(template, store, **changes):
    return {
        "template": template.pk,
        "store": store.pk,
        "consumer": {"phone": "+8613900000001", "name": "Zhou Min"},
        "total_amount": "12000.00",
        "currency": "CNY",
        "service_address": "88 Test Road, Shanghai",
        "latitude": "31.230000",
        "longitude": "121.470000",
        **changes,
    }


def test_store_manager_creates_an_order_for_a_new_consumer(client_for, store_manager, merchant, store):
    from tests.factories.workflows import make_template

    template = make_template(merchant=merchant, stores=[store])
    response = client_for(store_manager).post("/api/v1/orders/", order_payload(template, store), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["total_amount"] == "12000.00" and body["currency"] == "CNY"
    assert [s["code"] for s in body["stages"]] == [s["code"] for s in CUSTOM_WARDROBE["stages"]]
    assert body["timeline"][0]["kind"] == "order.created"
    order = ServiceOrder.objects.get(pk=body["id"])
    assert order.consumer.phone == "+8613900000001" and order.consumer.role == "consumer"
    # the same phone finds the same consumer next time
    again = client_for(store_manager).post("/api/v1/orders/", order_payload(template, store), format="json")
    assert ServiceOrder.objects.get(pk=again.json()["id"]).consumer_id == order.consumer_id


def test_a_refused_order_leaves_no_new_consumer_account(client_for, store_manager, merchant, store, store2):
    from tenancy.models import User
    from tests.factories.workflows import make_template

    template = make_template(merchant=merchant, stores=[store2])  # not distributed to `store`
    response = client_for(store_manager).post("/api/v1/orders/", order_payload(template, store), format="json")
    assert response.status_code == 400 and response.json()["code"] == "not_distributed"
    assert not User.objects.filter(phone="+8613900000001").exists()


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"total_amount": "-5"}, "total_amount"),
        ({"total_amount": "abc"}, "total_amount"),
        ({"total_amount": "1e3"}, "total_amount"),  # the schema's decimal pattern has no exponent
        ({"total_amount": 12000}, "total_amount"),  # a JSON number
        ({"latitude": "123"}, "latitude"),
        ({"consumer": {"name": "no contact"}}, "consumer"),
        ({"currency": "yuan"}, "currency"),
        ({"currency": "QQQ"}, "currency"),  # three capitals, but no currency the service knows the minor unit of
        ({"currency": "JPY", "total_amount": "100.50"}, "total_amount"),  # was rounded to 101 without a word
        ({"currency": "CNY", "total_amount": "100.505"}, "total_amount"),
    ],
)
def test_bad_order_input_is_a_400_with_field_errors(client_for, store_manager, merchant, store, changes, field):
    from tests.factories.workflows import make_template

    template = make_template(merchant=merchant, stores=[store])
    response = client_for(store_manager).post(
        "/api/v1/orders/", order_payload(template, store, **changes), format="json"
    )
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not ServiceOrder.objects.exists()


@pytest.mark.parametrize("currency, total, shown", [("JPY", "12000", "12000"), ("JPY", "12000.00", "12000"),
                                                     ("USD", "99.90", "99.90")])
def test_an_amount_in_the_currencys_minor_units_is_taken_as_given(client_for, store_manager, merchant, store,
                                                                   currency, total, shown):
    from tests.factories.workflows import make_template

    template = make_template(merchant=merchant, stores=[store])
    response = client_for(store_manager).post(
        "/api/v1/orders/", order_payload(template, store, currency=currency, total_amount=total), format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["total_amount"], body["currency"]) == (shown, currency)
    # One currency, one form: the total, each installment and the money summary all use its places.
    places = {len(a.partition(".")[2]) for a in [body["total_amount"], body["money"]["total"],
                                                  *(i["amount"] for i in body["installments"])]}
    assert places == {len(shown.partition(".")[2])}
    assert sum(Decimal(i["amount"]) for i in body["installments"]) == Decimal(total)
    listed = client_for(store_manager).get("/api/v1/orders/").json()["results"]
    assert [o["total_amount"] for o in listed if o["id"] == body["id"]] == [shown]


def test_orders_are_visible_only_to_their_people(
    client_for, store, consumer, consumer2, store_manager, other_store_manager, other_admin, merchant_admin, technician
):
    order = make_order(store=store, consumer=consumer)
    url = f"/api/v1/orders/{order.pk}/"
    assert client_for(consumer).get(url).status_code == 200
    assert client_for(store_manager).get(url).status_code == 200
    assert client_for(merchant_admin).get(url).status_code == 200
    for outsider in (consumer2, other_store_manager, other_admin, technician):
        assert client_for(outsider).get(url).status_code == 404
        assert client_for(outsider).post(f"{url}cancel/", {"reason": "x"}).status_code in (403, 404)
    assert [o["id"] for o in client_for(consumer).get("/api/v1/orders/").json()["results"]] == [order.pk]
    assert client_for(consumer2).get("/api/v1/orders/").json()["results"] == []


def test_consumer_may_not_create_orders(client_for, consumer, merchant, store):
    from tests.factories.workflows import make_template

    template = make_template(merchant=merchant, stores=[store])
    assert (
        client_for(consumer).post("/api/v1/orders/", order_payload(template, store), format="json").status_code == 403
    )


def _detail_queries(client, order) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"/api/v1/orders/{order.pk}/")
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _advance(order, store_manager, consumer, steps):
    for _ in range(steps):
        order.refresh_from_db()
        services.stage_submit(stage=order.current_stage, actor=store_manager, notes="done")
        services.stage_approve(stage=order.current_stage, actor=consumer)


def test_order_detail_costs_the_same_queries_for_4_and_40_stages(client_for, store, consumer, store_manager):
    small = make_order(store=store, consumer=consumer, definition=linear_stages(4, **APPROVAL_STAGES))
    large = make_order(store=store, consumer=consumer, definition=linear_stages(40, **APPROVAL_STAGES))
    _advance(small, store_manager, consumer, 2)
    _advance(large, store_manager, consumer, 30)
    api = client_for(consumer)
    assert large.events.count() > 10 * small.events.count() / 2
    assert api.get("/api/v1/orders/").status_code == 200  # the token's look-up now in the cache (core.authentication)
    assert _detail_queries(api, small) == _detail_queries(api, large)


def test_order_list_query_count_does_not_grow_with_orders(client_for, store, consumer, django_assert_max_num_queries):
    from tests.factories.workflows import make_template

    template = make_template(merchant=store.merchant, stores=[store])
    api = client_for(consumer)
    make_order(store=store, consumer=consumer, template=template)
    with CaptureQueriesContext(connection) as few:
        api.get("/api/v1/orders/")
    for _ in range(15):
        make_order(store=store, consumer=consumer, template=template)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(api.get("/api/v1/orders/").json()["results"]) == 16


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_identical_transitions_apply_once(client_for, store, consumer, store_manager):
    order = make_order(store=store, consumer=consumer, definition=linear_stages(2, **APPROVAL_STAGES))
    services.stage_submit(stage=order.current_stage, actor=store_manager)
    stage_id = ServiceOrder.objects.get(pk=order.pk).current_stage_id
    clients = [client_for(consumer), client_for(consumer)]
    barrier = threading.Barrier(2)
    statuses = []

    def approve(api):
        try:
            barrier.wait()
            statuses.append(api.post(f"/api/v1/stages/{stage_id}/approve/").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 409]
    assert OrderEvent.objects.filter(order=order, kind="stage.approve").count() == 1
    assert stage_of(order, "s1").state == "done"
