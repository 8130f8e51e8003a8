"""Races, on PostgreSQL (SQLite has no row locks): 50 deliveries of one webhook, 32 pay calls,
32 refund requests."""

import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from payments.models import LedgerEntry, Payment, Refund, WebhookDelivery
from payments.providers import sandbox
from payments.providers.base import PAYMENT_SUCCEEDED
from payments.services import installment_pay, payment_refund
from tests.factories.payments import pay_due_installments
from tests.payments.helpers import inst_of
from workflows.models import OrderEvent, ServiceOrder

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_threads(n, fn):
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def worker(i):
        try:
            barrier.wait()
            results[i] = fn(i)
        except Exception as exc:  # noqa: BLE001 - collected and asserted on below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_50_concurrent_deliveries_of_one_webhook_settle_once(order):
    payment = installment_pay(installment=inst_of(order, "booking"), actor=order.consumer).payment
    headers, body = sandbox.build_webhook(PAYMENT_SUCCEEDED, sandbox.payment_event_data(payment))
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}

    results, errors = run_threads(50, lambda i: Client().post(
        "/api/v1/payments/webhooks/sandbox/", data=body, content_type="application/json", **extra).status_code)

    assert errors == []
    assert results == [200] * 50
    assert LedgerEntry.objects.filter(order=order).count() == 1
    assert OrderEvent.objects.filter(order=order, kind="payment.captured").count() == 1
    assert WebhookDelivery.objects.filter(status="accepted").count() == 1
    assert WebhookDelivery.objects.filter(status="duplicate").count() == 49
    assert ServiceOrder.objects.get(pk=order.pk).state == "measuring:ready"


def test_32_concurrent_pay_calls_open_one_payment(order, consumer, client_for):
    url = f"/api/v1/installments/{inst_of(order, 'booking').pk}/pay/"
    clients = [client_for(consumer) for _ in range(32)]

    results, errors = run_threads(32, lambda i: clients[i].post(url))

    assert errors == []
    assert sorted({r.status_code for r in results}) in ([200, 201], [201])
    assert [r.status_code for r in results].count(201) == 1
    assert Payment.objects.filter(order=order).count() == 1
    pid = Payment.objects.get(order=order).pk
    assert {r.json()["payment"]["id"] for r in results} == {pid}
    assert {r.json()["payment"]["checkout_url"] for r in results} == {Payment.objects.get(pk=pid).checkout_url}


def test_32_concurrent_refunds_never_exceed_captured(order, store_manager):
    payment = pay_due_installments(order)[0]  # 1200.00 captured

    results, errors = run_threads(32, lambda i: payment_refund(payment=payment, amount="100.00",
                                                               actor=store_manager))

    # Refused either way: more than is left, or (a request that got the lock after all twelve had settled) a
    # payment already refunded in full.
    assert {getattr(e, "code", "") for e in errors} <= {"refund_exceeds_captured", "invalid_transition"}
    assert len(errors) == 20 and len([r for r in results if r is not None]) == 12
    assert Refund.objects.filter(payment=payment, status="succeeded").count() == 12
    refunded = sum(e.amount for e in LedgerEntry.objects.filter(order=order, kind="refund"))
    assert refunded == Decimal("1200.00")
    assert Payment.objects.get(pk=payment.pk).status == "refunded"
