"""Price revision races, on PostgreSQL (SQLite has no row locks): concurrent proposals, concurrent answers, and an
acceptance racing the capture of the payment in flight."""

from decimal import Decimal

import pytest
from django.test import Client

from payments.models import Installment, PriceRevision
from payments.providers import sandbox
from payments.providers.base import PAYMENT_SUCCEEDED
from payments.services import installment_pay, revision_propose
from tests.factories.payments import pay_due_installments
from tests.payments.helpers import inst_of
from tests.payments.test_concurrency import run_threads
from workflows.models import OrderEvent, ServiceOrder

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
BODY = {"total_amount": "13000.00", "reason": "measured", "lines": [{"description": "shelf", "amount": "1000.00"}]}


def test_16_concurrent_proposals_open_one(order, client_for, store_manager):
    pay_due_installments(order)
    clients = [client_for(store_manager) for _ in range(16)]

    results, errors = run_threads(16, lambda i: clients[i].post(
        f"/api/v1/orders/{order.pk}/revisions/", BODY, format="json").status_code)

    assert errors == []
    assert sorted(results) == [201] + [409] * 15
    assert PriceRevision.objects.filter(order=order).count() == 1


def test_16_concurrent_accepts_apply_it_once(order, client_for, consumer, store_manager):
    pay_due_installments(order)
    rev = revision_propose(order=order, actor=store_manager, **{**BODY, "total_amount": Decimal("13000.00")})
    clients = [client_for(consumer) for _ in range(16)]

    results, errors = run_threads(16, lambda i: clients[i].post(
        f"/api/v1/revisions/{rev.pk}/{'accept' if i % 2 else 'decline'}/").status_code)

    assert errors == []
    assert sorted(results) == [200] + [409] * 15
    assert OrderEvent.objects.filter(order=order, kind__in=["revision.accepted", "revision.declined"]).count() == 1
    total = ServiceOrder.objects.get(pk=order.pk).total_amount
    assert sum(i.amount for i in Installment.objects.filter(order=order)) == total


def test_accepting_while_the_payment_in_flight_is_captured(order, client_for, consumer, store_manager):
    payment = installment_pay(installment=inst_of(order, "booking"), actor=consumer).payment
    rev = revision_propose(order=order, actor=store_manager, **{**BODY, "total_amount": Decimal("13000.00")})
    headers, body = sandbox.build_webhook(PAYMENT_SUCCEEDED, sandbox.payment_event_data(payment))
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    consumer_client = client_for(consumer)

    def act(i):
        if i == 0:
            return Client().post("/api/v1/payments/webhooks/sandbox/", data=body, content_type="application/json",
                                 **extra).status_code
        return consumer_client.post(f"/api/v1/revisions/{rev.pk}/accept/").status_code

    results, errors = run_threads(2, act)

    assert errors == [] and results[0] == 200
    booking = inst_of(order, "booking")
    assert booking.state == "paid" and booking.amount == Decimal("1200.00")  # paid for what was asked
    rev.refresh_from_db()
    if results[1] == 200:  # the capture came first: the rest was re-split around the paid deposit
        assert rev.status == "accepted"
        assert sum(i.amount for i in Installment.objects.filter(order=order)) == Decimal("13000.00")
    else:  # the attempt was still open: nothing changed, the consumer accepts again
        assert results[1] == 409 and rev.status == "open"
        assert sum(i.amount for i in Installment.objects.filter(order=order)) == Decimal("12000.00")
