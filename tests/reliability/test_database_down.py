"""The database unreachable during a request: a clean 503 `service_unavailable`, nothing half written,
and a retry with the same Idempotency-Key does the work once the database is back."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError

from core.idempotency import IdempotencyMiddleware
from core.models import IdempotencyKey
from notifications.models import Notification
from tests.factories.notifications import PLAIN_VISIT_WORKFLOW
from tests.factories.workflows import make_template
from workflows import engine
from workflows.models import OrderEvent, ServiceOrder, StageInstance

pytestmark = pytest.mark.django_db


def _payload(template, store, consumer) -> dict:
    return {
        "template": template.pk, "store": store.pk, "consumer": {"phone": consumer.phone, "name": "Known"},
        "total_amount": "12000.00", "currency": "CNY", "service_address": "88 Test Road, Shanghai",
        "latitude": "31.230000", "longitude": "121.470000",
    }


def _counts() -> tuple[int, ...]:
    return (ServiceOrder.objects.count(), StageInstance.objects.count(), OrderEvent.objects.count(),
            Notification.objects.count())


def _assert_503(response) -> None:
    assert response.status_code == 503, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == "service_unavailable" and body["detail"]


@pytest.mark.parametrize("error", [OperationalError("server closed the connection unexpectedly"),
                                   InterfaceError("connection already closed")])
def test_the_database_failing_mid_transaction_is_a_503_and_writes_nothing(client_for, store_manager, merchant,
                                                                          store, consumer, error):
    template = make_template(merchant=merchant, stores=[store], definition=PLAIN_VISIT_WORKFLOW)
    client = client_for(store_manager)
    before = _counts()

    # The order and its stages are inserted, then the database goes away before the first event.
    with mock.patch.object(engine, "order_initialize", side_effect=error) as failing:
        response = client.post("/api/v1/orders/", _payload(template, store, consumer), format="json",
                               HTTP_IDEMPOTENCY_KEY="order-1")
    assert failing.called
    _assert_503(response)
    assert _counts() == before, "a half-written order survived"
    assert not IdempotencyKey.objects.filter(key="order-1").exists()  # 5xx answers are not replayed

    # The database is back: the client's retry with the same key creates the order, once.
    response = client.post("/api/v1/orders/", _payload(template, store, consumer), format="json",
                           HTTP_IDEMPOTENCY_KEY="order-1")
    assert response.status_code == 201, response.content
    assert ServiceOrder.objects.count() == before[0] + 1
    replay = client.post("/api/v1/orders/", _payload(template, store, consumer), format="json",
                         HTTP_IDEMPOTENCY_KEY="order-1")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert ServiceOrder.objects.count() == before[0] + 1


@pytest.mark.parametrize("where", ["_claim", "caller"])
def test_the_database_failing_in_the_idempotency_middleware_is_a_json_503(client_for, store_manager, merchant,
                                                                          store, consumer, where):
    """The middleware queries the database before any view runs; Django's handler500
    (core.handlers.server_error) answers /api/ callers the same JSON 503 as the views."""
    template = make_template(merchant=merchant, stores=[store], definition=PLAIN_VISIT_WORKFLOW)
    client = client_for(store_manager)
    client.raise_request_exception = False
    before = _counts()
    error = OperationalError("could not connect to server: Connection refused")
    target = (mock.patch.object(IdempotencyMiddleware, "_claim", side_effect=error) if where == "_claim"
              else mock.patch("core.idempotency._caller", side_effect=error))
    with target:
        response = client.post("/api/v1/orders/", _payload(template, store, consumer), format="json",
                               HTTP_IDEMPOTENCY_KEY="mw-1")
    _assert_503(response)
    assert response["Retry-After"]
    assert _counts() == before


@pytest.mark.parametrize("path, exc, status, is_json", [
    ("/api/v1/orders/", OperationalError("down"), 503, True),
    ("/admin/", OperationalError("down"), 500, False),  # pages keep Django's own 500 page
    ("/api/v1/orders/", ValueError("a bug"), 500, False),  # only a database outage is a 503
])
def test_the_500_handler_answers_503_only_for_a_database_outage_under_api(rf, path, exc, status, is_json):
    from core.handlers import server_error

    try:
        raise exc
    except Exception:  # noqa: BLE001 - Django calls handler500 while the exception is being handled
        response = server_error(rf.get(path))
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json") is is_json
