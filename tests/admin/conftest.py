"""A busy reference-flow order for the admin's tests: the deposit paid (a payment with its channel), the
measuring visit booked and given to a technician, the technician checked in 400 m from the address (outside
the radius) and a photo uploaded, all through the real services and the technician's API."""

import pytest
from django.test import Client

from tests.factories.fieldwork import book_visit, starting_soon
from tests.factories.payments import pay_due_installments
from tests.factories.workflows import make_order, stage_of
from tests.fieldwork.helpers import check_in_body, job_url, photo_upload
from workflows import services


def web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def manager_web(store_manager):
    return web(store_manager)


@pytest.fixture
def paid_order(store, consumer, store_manager):
    """The reference wardrobe with its deposit paid: measuring is ready and its e-voucher issued."""
    order = make_order(store=store, consumer=consumer, actor=store_manager)
    pay_due_installments(order)
    assert order.state == "measuring:ready"
    return order


@pytest.fixture
def visit(paid_order, consumer, technician, store_manager):
    """The measuring visit, booked by the consumer and given to the technician, starting in 30 minutes."""
    return starting_soon(book_visit(order=paid_order, code="measuring", consumer=consumer, technician=technician,
                                    manager=store_manager))


@pytest.fixture
def busy_order(paid_order, visit, client_for, technician):
    """The technician checked in 400 m away (outside the 300 m radius) and uploaded a photo."""
    tech = client_for(technician)
    response = tech.post(job_url(visit, "check-in"), check_in_body(paid_order, north_m=400), format="json")
    assert response.status_code in (200, 201), response.content
    assert photo_upload(tech, visit).status_code in (200, 201)
    paid_order.refresh_from_db()
    return paid_order


# A design stage the store works off-site; a rejection escalates it at once (no rework round allowed).
DESIGN_FLOW = {
    "name": "Design only",
    "stages": [
        {"code": "brief", "name": "Brief"},
        {"code": "design", "name": "Design", "requires_approval": True, "max_rework_rounds": 0, "sla_hours": 24},
        {"code": "handover", "name": "Handover"},
    ],
}


def make_design_order(*, store, consumer, manager):
    """An order whose design stage the store is working on (design:in_progress)."""
    order = make_order(store=store, consumer=consumer, definition=DESIGN_FLOW, actor=manager)
    services.stage_start(stage=stage_of(order, "design"), actor=manager)
    order.refresh_from_db()
    assert order.state == "design:in_progress"
    return order


@pytest.fixture
def design_order(store, consumer, store_manager):
    return make_design_order(store=store, consumer=consumer, manager=store_manager)


@pytest.fixture
def escalated_order(store, store_manager, consumer):
    """Another design order: its draft rejected, the stage escalated to the store."""
    order = make_design_order(store=store, consumer=consumer, manager=store_manager)
    design = stage_of(order, "design")
    services.stage_submit(stage=design, actor=store_manager, notes="Draft 1")
    services.stage_reject(stage=design, actor=consumer, reason="Not what I asked")
    order.refresh_from_db()
    assert order.state == "design:escalated"
    return order
