"""Races of issue 21 through the real HTTP stack, on PostgreSQL (see test_http_races for the harness)."""

from __future__ import annotations

import pytest

from tests.concurrency.test_http_races import Call, fire_together, statuses, token_header
from tests.factories.workflows import make_template
from workflows.models import OrderEvent, ServiceOrder

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_32_concurrent_imports_of_one_external_ref_make_one_order(live_server, store, store_manager):
    """A brand's system retrying one marketplace order 32 times at once (each retry with its own idempotency
    key, or none): one 201, the others 200 with the same order; never a second order, never a 5xx."""
    template = make_template(merchant=store.merchant, stores=[store])
    body = {
        "template": template.pk, "store": store.pk, "total_amount": "12000.00", "currency": "CNY",
        "consumer": {"phone": "+8613800138000", "name": "Wei Zhang"}, "external_ref": "TMALL-889900",
        "service_address": "1 Test Road", "latitude": 31.23, "longitude": 121.47,
    }
    replies = fire_together(live_server, [Call("/api/v1/orders/", body, token_header(store_manager))] * 32)
    counts = statuses(replies)
    assert counts[(201, None)] == 1 and counts[(200, None)] == 31, counts
    assert len({r.body["id"] for r in replies}) == 1
    assert ServiceOrder.objects.count() == 1
    assert OrderEvent.objects.filter(kind="order.created").count() == 1
