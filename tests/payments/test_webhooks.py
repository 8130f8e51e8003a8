"""The webhook path: signature, freshness, deduplication, unknown things, and order of arrival."""

import json
import time
from decimal import Decimal

import pytest

from core import display
from core.errors import DomainError
from payments.models import Installment, LedgerEntry, Payment, Refund, WebhookDelivery
from payments.providers import sandbox
from payments.providers.base import PAYMENT_FAILED, PAYMENT_PENDING, PAYMENT_SUCCEEDED, REFUND_SUCCEEDED
from payments.services import installment_pay, webhook_receive
from tests.payments.helpers import inst_of
from workflows.models import OrderEvent, ServiceOrder

URL = "/api/v1/payments/webhooks/sandbox/"


@pytest.fixture
def payment(order):
    return installment_pay(installment=inst_of(order, "booking"), actor=order.consumer).payment


def snapshot(order):
    """Everything a notification could change."""
    order = ServiceOrder.objects.get(pk=order.pk)
    return (
        order.state,
        list(Installment.objects.filter(order=order).order_by("pk").values_list("state", flat=True)),
        list(Payment.objects.filter(order=order).order_by("pk").values_list("status", flat=True)),
        LedgerEntry.objects.filter(order=order).count(),
        OrderEvent.objects.filter(order=order).count(),
        Refund.objects.filter(payment__order=order).count(),
    )


def post(anon_client, headers, body):
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    return anon_client.post(URL, data=body, content_type="application/json", **extra)


def succeeded(payment, **kw):
    return sandbox.build_webhook(PAYMENT_SUCCEEDED, sandbox.payment_event_data(payment), **kw)


def test_signed_capture_over_http_pays_the_installment(anon_client, order, payment):
    headers, body = succeeded(payment)

    response = post(anon_client, headers, body)

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "processed"
    payment.refresh_from_db()
    assert payment.status == "captured"
    assert inst_of(order, "booking").state == "paid"
    assert ServiceOrder.objects.get(pk=order.pk).state == "measuring:ready"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.signature_valid, delivery.processed) == ("accepted", True, True)


@pytest.mark.parametrize("mutate, code", [
    ("bad_signature", "invalid_signature"),
    ("stale", "stale_webhook"),
    ("tampered", "invalid_signature"),
    ("missing_headers", "invalid_signature"),
    ("wrong_secret", "invalid_signature"),
])
def test_untrusted_notification_answers_400_and_changes_nothing(anon_client, order, payment, mutate, code):
    before = snapshot(order)
    headers, body = succeeded(payment)
    if mutate == "bad_signature":
        headers[sandbox.SIGNATURE_HEADER] = "0" * 64
    elif mutate == "stale":
        headers, body = succeeded(payment, timestamp=int(time.time()) - 301)
    elif mutate == "tampered":
        body = body.replace(str(payment.amount).encode(), b"1.00")
    elif mutate == "missing_headers":
        headers = {}
    elif mutate == "wrong_secret":
        headers, body = succeeded(payment, secret="guessed")

    response = post(anon_client, headers, body)

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert snapshot(order) == before
    delivery = WebhookDelivery.objects.get()  # kept for audit, marked as not trusted
    assert (delivery.status, delivery.signature_valid, delivery.processed) == ("rejected", False, False)


def test_garbage_body_with_valid_signature_is_400(anon_client, order, payment):
    ts = int(time.time())
    body = b"\xff\xfenot json"
    response = post(anon_client, {sandbox.TIMESTAMP_HEADER: str(ts),
                                  sandbox.SIGNATURE_HEADER: sandbox.sign(body, ts)}, body)
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_webhook"


def test_unknown_provider_is_404(anon_client, order):
    response = anon_client.post("/api/v1/payments/webhooks/nope/", data=b"{}", content_type="application/json")
    assert response.status_code == 404


def test_replayed_event_changes_nothing_twice(anon_client, order, payment):
    headers, body = succeeded(payment)
    assert post(anon_client, headers, body).status_code == 200
    after_first = snapshot(order)

    response = post(anon_client, headers, body)

    assert response.status_code == 200
    assert response.json()["status"] == "duplicate"
    assert snapshot(order) == after_first
    assert list(WebhookDelivery.objects.order_by("pk").values_list("status", flat=True)) == [
        "accepted", "duplicate"]


def test_same_capture_under_a_new_event_id_is_applied_once(order, payment):
    h1, b1 = succeeded(payment)
    h2, b2 = succeeded(payment)
    webhook_receive(provider="sandbox", headers=h1, raw_body=b1)
    after_first = snapshot(order)

    result = webhook_receive(provider="sandbox", headers=h2, raw_body=b2)

    assert result.result == "ignored: already captured"
    assert snapshot(order) == after_first


@pytest.mark.parametrize("data", [
    {"payment_id": "sbx_pay_nope", "reference": "nope", "amount": "1200.00", "currency": "CNY"},
    {"amount": "1200.00"},
])
def test_unknown_payment_is_acknowledged_recorded_and_changes_nothing(anon_client, order, payment, data):
    before = snapshot(order)
    headers, body = sandbox.build_webhook(PAYMENT_SUCCEEDED, data)

    response = post(anon_client, headers, body)

    assert response.status_code == 200
    assert response.json()["result"] == "ignored: unknown payment"
    assert snapshot(order) == before
    assert WebhookDelivery.objects.get().result == "ignored: unknown payment"


def test_unknown_event_type_is_acknowledged_and_ignored(anon_client, order, payment):
    before = snapshot(order)
    headers, body = sandbox.build_webhook("payment.disputed", sandbox.payment_event_data(payment))

    response = post(anon_client, headers, body)

    assert response.status_code == 200
    assert response.json()["result"] == "ignored: unknown event type"
    assert snapshot(order) == before


@pytest.mark.usefixtures("english")
def test_amount_mismatch_does_not_capture_and_the_store_is_told(order, payment, store_manager):
    """The provider may have taken money we did not ask for: nothing is booked, and it is on the order's record
    with a message to the store's managers, so a person settles it at the provider."""
    from notifications.models import Notification

    before = snapshot(order)
    data = {**sandbox.payment_event_data(payment), "amount": "1.00"}
    headers, body = sandbox.build_webhook(PAYMENT_SUCCEEDED, data)

    assert webhook_receive(provider="sandbox", headers=headers, raw_body=body).result == "ignored: amount mismatch"
    after = snapshot(order)
    assert after[:4] + after[5:] == before[:4] + before[5:]  # no state, payment, ledger or refund changed
    event = OrderEvent.objects.filter(order=order).latest("seq")
    assert event.kind == "payment.amount_mismatch"
    assert (event.payload["amount"], event.payload["reported_amount"]) == ("1200.00", "1.00")
    message = Notification.objects.get(event=event, recipient=store_manager, channel="email")
    assert "reported CN¥1.00 for a payment of CN¥1,200.00" in message.body


@pytest.mark.usefixtures("english")
def test_a_refund_the_provider_refused_is_told_to_the_store(order, payment, store_manager):
    from notifications.models import Notification
    from payments.providers.base import REFUND_FAILED
    from payments.services import payment_capture, refund_settle

    payment_capture(payment=payment)
    refund = Refund.objects.create(payment=payment, amount=Decimal("200.00"), currency="CNY", reason="goodwill")
    assert refund_settle(refund=refund, succeeded=False) == "refund failed"
    event = OrderEvent.objects.filter(order=order, kind=REFUND_FAILED).get()
    message = Notification.objects.get(event=event, recipient=store_manager, channel="email")
    assert "refused the refund of CN¥200.00" in message.body


@pytest.mark.parametrize("reported", [{"amount": "150.00"}, {"currency": "USD"}])
@pytest.mark.usefixtures("english")
def test_a_known_refund_reported_for_another_amount_is_not_booked_and_the_store_is_told(
        order, payment, store_manager, reported):
    """We asked for 200.00 back; the provider says it sent something else. The ledger must not say
    200.00 went back: nothing is booked, the refund stays pending, and the store is told."""
    from notifications.models import Notification
    from payments.services import payment_capture

    payment_capture(payment=payment)
    refund = Refund.objects.create(payment=payment, amount=Decimal("200.00"), currency="CNY", reason="goodwill")
    data = {**sandbox.payment_event_data(payment), "amount": "200.00", "refund_reference": refund.reference,
            "refund_id": "re_other", **reported}
    headers, body = sandbox.build_webhook(REFUND_SUCCEEDED, data)

    assert webhook_receive(provider="sandbox", headers=headers, raw_body=body).result == "ignored: amount mismatch"
    refund.refresh_from_db()
    assert refund.status == Refund.Status.PENDING
    assert not LedgerEntry.objects.filter(order=order, kind=LedgerEntry.Kind.REFUND).exists()
    assert Payment.objects.get(pk=payment.pk).status == "captured"
    event = OrderEvent.objects.filter(order=order).latest("seq")
    assert event.kind == "refund.amount_mismatch"
    assert event.payload["refund"] == refund.pk
    message = Notification.objects.get(event=event, recipient=store_manager, channel="email")
    shown = display.money(data["amount"], data["currency"], language="en")
    told = f"reported a refund of {shown} where CN¥200.00 was asked"
    assert told in message.body

    # The provider's own correction, with the amount asked, settles it.
    headers, body = sandbox.build_webhook(REFUND_SUCCEEDED, {**data, "amount": "200.00", "currency": "CNY"})
    assert webhook_receive(provider="sandbox", headers=headers, raw_body=body).result == "refunded"
    assert LedgerEntry.objects.get(order=order, kind=LedgerEntry.Kind.REFUND).amount == Decimal("200.00")


def test_failed_payment_makes_the_installment_payable_again(order, payment):
    headers, body = sandbox.build_webhook(PAYMENT_FAILED, sandbox.payment_event_data(payment))

    webhook_receive(provider="sandbox", headers=headers, raw_body=body)

    inst = inst_of(order, "booking")
    assert inst.state == "failed"
    assert Payment.objects.get(pk=payment.pk).status == "failed"
    assert OrderEvent.objects.filter(order=order, kind="payment.failed").count() == 1
    retry = installment_pay(installment=inst, actor=order.consumer)
    assert retry.created and retry.payment.pk != payment.pk
    assert inst_of(order, "booking").state == "processing"


def _deliver(events):
    for headers, body in events:
        webhook_receive(provider="sandbox", headers=headers, raw_body=body)


def _final(order):
    s = snapshot(order)
    ledger = sorted(LedgerEntry.objects.filter(order=order).values_list("kind", "amount"))
    # the money events (the log also keeps what happened on the way, e.g. an earlier failure)
    kinds = sorted(OrderEvent.objects.filter(order=order, kind__in=["payment.captured", "payment.refunded"])
                   .values_list("kind", flat=True))
    return s[0], s[1], s[2], ledger, kinds


@pytest.mark.parametrize("first, second", [("pending", "succeeded"), ("succeeded", "pending"),
                                           ("failed", "succeeded"), ("succeeded", "failed")])
def test_payment_notifications_in_any_order_end_in_the_same_state(store, consumer, first, second):
    from tests.factories.workflows import make_order

    types = {"pending": PAYMENT_PENDING, "succeeded": PAYMENT_SUCCEEDED, "failed": PAYMENT_FAILED}
    results = []
    for order_of_arrival in ((first, second), (second, first)):
        order = make_order(store=store, consumer=consumer)
        payment = installment_pay(installment=inst_of(order, "booking"), actor=consumer).payment
        _deliver([sandbox.build_webhook(types[k], sandbox.payment_event_data(payment)) for k in order_of_arrival])
        results.append(_final(order))
    assert results[0] == results[1]
    assert results[0][0] == "measuring:ready"  # the capture wins whatever came with it


def test_refund_notification_before_capture_ends_as_in_order(store, consumer):
    from tests.factories.workflows import make_order

    results = []
    for capture_first in (True, False):
        order = make_order(store=store, consumer=consumer)
        payment = installment_pay(installment=inst_of(order, "booking"), actor=consumer).payment
        data = sandbox.payment_event_data(payment)
        capture = sandbox.build_webhook(PAYMENT_SUCCEEDED, data)
        refund = sandbox.build_webhook(REFUND_SUCCEEDED, {**data, "amount": "200.00",
                                                          "refund_id": f"re_{payment.pk}_{capture_first}"})
        _deliver([capture, refund] if capture_first else [refund, capture])
        results.append(_final(order))
    assert results[0] == results[1]
    state, installments, payments, ledger, _ = results[0]
    assert installments[0] == "partially_refunded"
    assert payments == ["partially_refunded"]
    assert ledger == [("charge", Decimal("1200.00")), ("refund", Decimal("200.00"))]


def test_stored_delivery_keeps_raw_body_and_headers_without_secrets(anon_client, order, payment):
    headers, body = succeeded(payment)
    post(anon_client, {**headers, "Authorization": "Token secret"}, body)

    delivery = WebhookDelivery.objects.get()
    assert json.loads(delivery.raw_body)["type"] == PAYMENT_SUCCEEDED
    assert delivery.headers["x-sandbox-signature"] == headers[sandbox.SIGNATURE_HEADER]
    assert "authorization" not in delivery.headers


def test_webhook_receive_raises_400_domain_error_for_bad_signature(order, payment):
    headers, body = succeeded(payment)
    headers[sandbox.SIGNATURE_HEADER] = "nope"
    with pytest.raises(DomainError) as exc:
        webhook_receive(provider="sandbox", headers=headers, raw_body=body)
    assert exc.value.status_code == 400


@pytest.mark.parametrize("currency, amount, result", [
    ("CNY", "0.001", "ignored: CNY amounts are at most 2 decimal places."),
    ("CNY", "0.004", "ignored: CNY amounts are at most 2 decimal places."),
    ("JPY", "100.5", "ignored: JPY amounts are whole numbers."),
    ("CNY", "USD", "ignored: currency mismatch"),
])
@pytest.mark.usefixtures("english")
def test_refund_made_at_the_provider_that_the_currency_cannot_hold_is_refused(store, consumer, currency, amount,
                                                                              result):
    from tests.factories.payments import pay_due_installments
    from tests.factories.workflows import make_order

    order = make_order(store=store, consumer=consumer, currency=currency,
                       total=Decimal("12000") if currency == "JPY" else Decimal("12000.00"))
    payment = pay_due_installments(order)[0]
    data = {**sandbox.payment_event_data(payment), "refund_id": "re_dashboard_1"}
    data.update({"amount": "100.00", "currency": "USD"} if amount == "USD" else {"amount": amount})
    headers, body = sandbox.build_webhook(REFUND_SUCCEEDED, data)
    before = snapshot(order)

    r = webhook_receive(provider="sandbox", headers=headers, raw_body=body)

    # acknowledged (the provider stops), kept for a person, and nothing recorded as refunded
    assert (r.status, r.result) == ("processed", result)
    delivery = WebhookDelivery.objects.get(pk=r.delivery_id)
    assert (delivery.status, delivery.result) == ("accepted", result)
    assert snapshot(order) == before


def test_refund_made_at_the_provider_in_whole_minor_units_is_recorded(order):
    from tests.factories.payments import pay_due_installments

    payment = pay_due_installments(order)[0]
    data = {**sandbox.payment_event_data(payment), "amount": "100.5", "refund_id": "re_dashboard_2"}
    headers, body = sandbox.build_webhook(REFUND_SUCCEEDED, data)

    assert webhook_receive(provider="sandbox", headers=headers, raw_body=body).result == "refunded"
    assert Refund.objects.get().amount == Decimal("100.50")
    assert inst_of(order, "booking").state == "partially_refunded"
