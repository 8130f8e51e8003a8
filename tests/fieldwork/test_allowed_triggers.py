"""`allowed_triggers` in the order detail, and `allowed` in a 409, list what the caller's role may do now:
clients draw their buttons from them (a consumer was offered the system's "unblock")."""

import pytest

from tests.factories.workflows import make_order, stage_of
from workflows import engine

pytestmark = pytest.mark.django_db


@pytest.fixture
def unpaid_order(store, consumer):
    """The reference wardrobe, deposit not paid yet."""
    order = make_order(store=store, consumer=consumer)
    assert order.state.endswith(":waiting_payment"), order.state
    return order


def allowed_for(client, order) -> list[str]:
    response = client.get(f"/api/v1/orders/{order.pk}/")
    assert response.status_code == 200, response.content
    return response.json()["allowed_triggers"]


def test_while_a_payment_is_due_the_consumer_is_offered_cancel_not_the_systems_unblock(consumer_client,
                                                                                       unpaid_order):
    assert "unblock" in engine.allowed_triggers(unpaid_order)  # the machine's own list has it
    assert allowed_for(consumer_client, unpaid_order) == ["cancel"]


def test_on_site_the_technician_may_start_but_not_cancel(tech, consumer_client, manager_client, visit):
    order = visit.order
    technician_sees = allowed_for(tech, order)
    assert "start" in technician_sees and "cancel" not in technician_sees
    assert "start" not in allowed_for(consumer_client, order)
    assert {"cancel", "start"} <= set(allowed_for(manager_client, order))


@pytest.mark.usefixtures("english")
def test_booking_an_unpaid_stage_says_to_pay_first(consumer_client, unpaid_order):
    stage = stage_of(unpaid_order, unpaid_order.state.partition(":")[0])
    response = consumer_client.post(f"/api/v1/orders/{unpaid_order.pk}/appointments/",
                                    {"stage": stage.pk, "window_start": "2031-03-04T10:00:00+08:00"}, format="json")
    assert response.status_code == 409
    body = response.json()
    assert "installment" in body["detail"] and body["allowed"] == ["cancel"]
