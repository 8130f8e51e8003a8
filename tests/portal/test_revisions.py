"""A price revision (增减项) on the consumer's page: shown with its items to whoever holds the link; accepted or
declined only from a device with a session (CSRF-protected forms), through the same service as the API."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client

from payments.models import Installment, PriceRevision
from payments.services import revision_propose
from tests.factories.payments import pay_due_installments
from tests.factories.workflows import make_order
from tests.portal.conftest import last_code, url, verify
from workflows.models import OrderEvent, ServiceOrder

pytestmark = pytest.mark.django_db


@pytest.fixture
def revised(store, consumer, store_manager):
    order = make_order(store=store, consumer=consumer, actor=store_manager)
    pay_due_installments(order)
    revision = revision_propose(order=order, actor=store_manager, total_amount=Decimal("13000.00"),
                                reason="Measured: the wall is longer",
                                lines=[{"description": "Extra shelf", "amount": "1500.00"},
                                       {"description": "No drawer", "amount": "-500.00"}])
    return order, revision


def code_of(response) -> str:
    found = re.search(r'data-code="([a-z_]*)"', response.content.decode())
    return found.group(1) if found else ""


def test_the_page_shows_the_open_revision(client, revised, english):
    order, _ = revised
    page = client.get(url(order)).content.decode()

    assert 'data-testid="revision"' in page
    assert "CN¥13,000.00" in page and "CN¥12,000.00" in page
    assert "Extra shelf" in page and "+CN¥1,500.00" in page and "-CN¥500.00" in page
    assert "Measured: the wall is longer" in page
    # without a session: no buttons, a way to confirm the phone
    assert 'data-testid="revision-accept"' not in page and "accept or decline the new price" in page


def test_accepting_needs_a_session_then_resplits(client, revised, sms, consumer):
    order, revision = revised
    accept = url(order, f"revisions/{revision.pk}/accept/")
    refused = client.post(accept)
    assert (refused.status_code, code_of(refused)) == (403, "verify_first")
    assert PriceRevision.objects.get(pk=revision.pk).status == "open"

    verify(client, order, sms)
    assert 'data-testid="revision-accept"' in client.get(url(order)).content.decode()
    response = client.post(accept)

    assert response.status_code == 302 and "done=revision_accepted" in response["Location"]
    assert ServiceOrder.objects.get(pk=order.pk).total_amount == Decimal("13000.00")
    assert sum(i.amount for i in Installment.objects.filter(order=order)) == Decimal("13000.00")
    event = OrderEvent.objects.get(order=order, kind="revision.accepted")
    assert (event.actor_id, event.actor_role) == (consumer.pk, "consumer")
    page = client.get(response["Location"]).content.decode()
    assert 'data-testid="revision"' not in page
    # answered: a second answer is the service's 409, shown on the page
    again = client.post(url(order, f"revisions/{revision.pk}/decline/"))
    assert (again.status_code, code_of(again)) == (409, "invalid_transition")


def test_declining_keeps_the_total(client, revised, sms):
    order, revision = revised
    verify(client, order, sms)

    response = client.post(url(order, f"revisions/{revision.pk}/decline/"))

    assert response.status_code == 302 and "done=revision_declined" in response["Location"]
    assert ServiceOrder.objects.get(pk=order.pk).total_amount == Decimal("12000.00")
    assert PriceRevision.objects.get(pk=revision.pk).status == "declined"


def test_another_orders_revision_is_not_found(client, revised, sms, store, consumer, store_manager):
    order, _ = revised
    other = make_order(store=store, consumer=consumer, actor=store_manager)
    other_revision = revision_propose(order=other, actor=store_manager, total_amount=Decimal("12500.00"),
                                      reason="x", lines=[{"description": "y", "amount": "500.00"}])
    verify(client, order, sms)

    response = client.post(url(order, f"revisions/{other_revision.pk}/accept/"))

    assert response.status_code == 404
    assert PriceRevision.objects.get(pk=other_revision.pk).status == "open"


def test_the_answer_forms_are_csrf_protected(revised, sms):
    order, revision = revised
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(url(order)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert browser.post(url(order, "code/"), {"csrfmiddlewaretoken": token}).status_code == 302
    verified = browser.post(url(order, "verify/"), {"code": last_code(sms), "csrfmiddlewaretoken": token})
    assert verified.status_code == 302

    assert browser.post(url(order, f"revisions/{revision.pk}/accept/")).status_code == 403  # no CSRF token
    assert PriceRevision.objects.get(pk=revision.pk).status == "open"
