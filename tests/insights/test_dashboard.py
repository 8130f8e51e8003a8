"""The admin dashboard: operators, merchant admins and store managers (tier with metrics) see charts and the
at-risk list of their scope."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories.insights import record_checkin
from tests.factories.workflows import make_order
from workflows.models import StageInstance

URL = "/admin/insights/dashboard/"


@pytest.fixture
def at_risk_order(store, consumer, technician):
    order = make_order(store=store, consumer=consumer)
    StageInstance.objects.filter(order=order, definition__code="measuring").update(
        state="in_progress", sla_due_at=timezone.now() + timedelta(hours=3))
    record_checkin(order=order, technician=technician, at=timezone.now() - timedelta(hours=1), on_time=True)
    return order


@pytest.fixture
def foreign_order(other_store, other_consumer):
    order = make_order(store=other_store, consumer=other_consumer)
    StageInstance.objects.filter(order=order, definition__code="measuring").update(
        state="in_progress", sla_due_at=timezone.now() + timedelta(hours=2))
    return order


@pytest.mark.usefixtures("english")
def test_operator_sees_charts_and_at_risk_orders(client, operator, at_risk_order, foreign_order):
    client.force_login(operator)
    r = client.get(URL)
    assert r.status_code == 200
    html = r.content.decode()
    assert html.count("<svg") >= 1 and "On-time arrival rate per day" in html
    assert at_risk_order.number in html and foreign_order.number in html
    assert "100%" in html and "early)" not in html  # the one check-in was on time, not early


@pytest.mark.usefixtures("english")
def test_early_arrivals_are_named_beside_the_on_time_rate(client, operator, at_risk_order, technician):
    record_checkin(order=at_risk_order, technician=technician, at=timezone.now() - timedelta(minutes=30),
                   on_time=True, early=True)
    client.force_login(operator)
    assert "on-time arrivals (2/2, 1 early)" in client.get(URL).content.decode()


def test_merchant_admin_sees_only_its_merchant(client, merchant_admin, at_risk_order, foreign_order):
    client.force_login(merchant_admin)
    r = client.get(URL)
    assert r.status_code == 200
    html = r.content.decode()
    assert at_risk_order.number in html and foreign_order.number not in html


def test_at_risk_window_is_adjustable(client, operator, at_risk_order):
    client.force_login(operator)
    assert at_risk_order.number not in client.get(URL, {"hours": 1}).content.decode()
    assert at_risk_order.number in client.get(URL, {"hours": 4}).content.decode()


def test_foreign_filter_is_404(client, merchant_admin, other_store):
    client.force_login(merchant_admin)
    assert client.get(URL, {"store": other_store.pk}).status_code == 404


def test_bad_query_values_do_not_break_the_page(client, operator):
    client.force_login(operator)
    assert client.get(URL, {"from": "2026-13-45", "to": "x", "hours": "lots", "store": "y"}).status_code == 200
    assert client.get(URL, {"from": "0001-01-01", "to": "9999-12-31"}).status_code == 200


@pytest.mark.usefixtures("english")
@pytest.mark.parametrize("tier", ["basic"])
def test_tier_without_metrics_gets_a_clear_403(client, merchant, merchant_admin, tier):
    merchant.tier = tier
    merchant.save()
    client.force_login(merchant_admin)
    r = client.get(URL)
    assert r.status_code == 403
    assert "The Basic tier does not include the metrics API and dashboard" in r.content.decode()


def test_growth_tier_has_the_dashboard(client, merchant, merchant_admin):
    merchant.tier = "growth"
    merchant.save()
    client.force_login(merchant_admin)
    assert client.get(URL).status_code == 200


def test_store_manager_sees_only_their_stores_figures(client, merchant, store2, store_manager, consumer,
                                                      at_risk_order, foreign_order):
    from tests.factories.workflows import make_order as order_at

    other_store_order = order_at(store=store2, consumer=consumer)
    StageInstance.objects.filter(order=other_store_order, definition__code="measuring").update(
        state="in_progress", sla_due_at=timezone.now() + timedelta(hours=2))
    client.force_login(store_manager)
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert at_risk_order.number in html
    assert other_store_order.number not in html and foreign_order.number not in html
    assert client.get(URL, {"store": store2.pk}).status_code == 404  # another store of the merchant


def test_store_manager_of_a_basic_tier_gets_the_tier_page(client, merchant, store_manager, english):
    merchant.tier = "basic"
    merchant.save()
    client.force_login(store_manager)
    response = client.get(URL)
    assert response.status_code == 403 and b"tier" in response.content


def test_store_manager_has_no_webhook_endpoints(client, store_manager):
    client.force_login(store_manager)
    assert client.get("/admin/insights/webhookendpoint/").status_code in (403, 404)


def test_no_external_assets(client, operator, at_risk_order):
    client.force_login(operator)
    html = client.get(URL).content.decode()
    assert not re.search(r'(src|href)="(https?:)?//', html)
