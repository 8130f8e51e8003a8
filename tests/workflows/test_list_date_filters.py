"""`?date=YYYY-MM-DD` on the order and appointment lists (the contract's filters): the day is the store's own,
so an order made at 23:30 in Shanghai is on that day although it is 15:30 UTC; a bad date is a 400."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.factories.fieldwork import make_field_order, make_job
from workflows.models import ServiceOrder

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = datetime(2031, 3, 4, tzinfo=SHANGHAI)


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def orders(store, consumer):
    store.timezone = "Asia/Shanghai"
    store.save()
    return [make_field_order(store=store, consumer=consumer) for _ in range(3)]


def test_orders_made_on_a_day_in_the_stores_time_zone(manager_client, consumer_client, orders,
                                                      django_assert_max_num_queries):
    late_evening, after_midnight, other = orders
    for order, moment in ((late_evening, DAY.replace(hour=23, minute=30)),
                          (after_midnight, DAY + timedelta(days=1, minutes=30)), (other, DAY - timedelta(days=3))):
        ServiceOrder.objects.filter(pk=order.pk).update(created_at=moment)
    with django_assert_max_num_queries(8):
        assert ids(manager_client.get("/api/v1/orders/", {"date": "2031-03-04"})) == [late_evening.pk]
    assert ids(manager_client.get("/api/v1/orders/", {"date": "2031-03-05"})) == [after_midnight.pk]
    assert ids(consumer_client.get("/api/v1/orders/", {"date": "2031-03-04"})) == [late_evening.pk]
    assert ids(manager_client.get("/api/v1/orders/", {"date": "2031-03-06"})) == []


def test_visits_starting_on_a_day_in_the_stores_time_zone(manager_client, orders, technician):
    first, second, _ = orders
    evening = make_job(order=first, code="measuring", technician=technician, window_start=DAY.replace(hour=22))
    make_job(order=second, code="measuring", technician=technician, window_start=DAY + timedelta(days=1, hours=1))
    assert ids(manager_client.get("/api/v1/appointments/", {"date": "2031-03-04"})) == [evening.pk]


@pytest.mark.parametrize("path", ["/api/v1/orders/", "/api/v1/appointments/"])
@pytest.mark.parametrize("value", ["garbage", "2031-02-30", "0001-01-01", "9999-12-31"])
def test_a_bad_date_is_a_400_not_an_ignored_filter(manager_client, orders, path, value):
    response = manager_client.get(path, {"date": value})
    assert response.status_code == 400
    assert "date" in response.json()["errors"]
