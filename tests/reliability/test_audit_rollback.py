"""Audit: an unsafe request writes its events in its own transaction, so a request that fails after
the engine fired (an effect that raises) leaves no event and no state change.

(The other half of the audit requirement, the event table refusing UPDATE and DELETE on
PostgreSQL, is tested in tests/insights/test_audit.py.)
"""

from __future__ import annotations

import pytest

from core.errors import Conflict
from notifications.models import Notification
from tests.factories.notifications import PLAIN_VISIT_WORKFLOW
from tests.factories.workflows import make_order, make_template
from workflows import hooks
from workflows.models import OrderEvent, ServiceOrder, StageInstance

pytestmark = pytest.mark.django_db


class EffectFailed(RuntimeError):
    pass


@pytest.fixture
def failing_effect():
    """Register an effect that raises `exc` for one trigger; removed again after the test."""
    registered = []

    def register(trigger: str, exc: Exception):
        def effect(ctx: hooks.TransitionContext) -> None:
            raise exc

        hooks.register_effect(trigger, effect)
        registered.append(effect)

    yield register
    for effect in registered:
        hooks.unregister_effect(effect)


def _snapshot(order: ServiceOrder) -> tuple:
    order.refresh_from_db()
    stages = tuple(StageInstance.objects.filter(order=order).order_by("pk").values_list("state", flat=True))
    return (order.state, order.status, order.current_stage_id, stages,
            OrderEvent.objects.filter(order=order).count(), Notification.objects.filter(order=order).count())


@pytest.mark.parametrize("exc, status", [(EffectFailed("effect crashed"), 500),
                                         (Conflict("refused by an extension"), 409)])
def test_a_cancel_whose_effect_fails_leaves_no_event_and_no_change(client_for, store_manager, store, consumer,
                                                                   failing_effect, exc, status):
    order = make_order(store=store, consumer=consumer, definition=PLAIN_VISIT_WORKFLOW)
    before = _snapshot(order)
    failing_effect("cancel", exc)
    client = client_for(store_manager)
    client.raise_request_exception = False
    response = client.post(f"/api/v1/orders/{order.pk}/cancel/", {"reason": "changed my mind"}, format="json")
    assert response.status_code == status, response.content
    assert _snapshot(order) == before


def test_the_same_cancel_without_the_failing_effect_writes_its_event(client_for, store_manager, store, consumer):
    order = make_order(store=store, consumer=consumer, definition=PLAIN_VISIT_WORKFLOW)
    events = OrderEvent.objects.filter(order=order).count()
    response = client_for(store_manager).post(f"/api/v1/orders/{order.pk}/cancel/", {"reason": "x"}, format="json")
    assert response.status_code == 200, response.content
    order.refresh_from_db()
    assert order.status == ServiceOrder.Status.CANCELLED
    assert OrderEvent.objects.filter(order=order, trigger="cancel").count() == 1
    assert OrderEvent.objects.filter(order=order).count() > events


def test_an_order_whose_create_effect_fails_is_not_created(client_for, store_manager, merchant, store, consumer,
                                                          failing_effect):
    template = make_template(merchant=merchant, stores=[store], definition=PLAIN_VISIT_WORKFLOW)
    counts = (ServiceOrder.objects.count(), StageInstance.objects.count(), OrderEvent.objects.count(),
              Notification.objects.count())
    failing_effect("create", EffectFailed("effect crashed"))
    client = client_for(store_manager)
    client.raise_request_exception = False
    response = client.post("/api/v1/orders/", {
        "template": template.pk, "store": store.pk, "consumer": {"phone": consumer.phone, "name": "Known"},
        "total_amount": "100.00", "currency": "CNY", "service_address": "1 Road", "latitude": "31.2",
        "longitude": "121.4"}, format="json")
    assert response.status_code == 500
    assert (ServiceOrder.objects.count(), StageInstance.objects.count(), OrderEvent.objects.count(),
            Notification.objects.count()) == counts
