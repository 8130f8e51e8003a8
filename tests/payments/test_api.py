"""POST /installments/{id}/pay/, lists, payment detail, refunds over the API, the sandbox page."""

from decimal import Decimal

import pytest

from payments.models import Installment, Payment
from tests.factories.payments import pay_due_installments
from tests.factories.workflows import make_order
from tests.payments.helpers import inst_of


def pay_url(inst):
    return f"/api/v1/installments/{inst.pk}/pay/"


def test_consumer_starts_paying_and_gets_the_checkout_url(client_for, order, consumer):
    inst = inst_of(order, "booking")

    first = client_for(consumer).post(pay_url(inst))
    again = client_for(consumer).post(pay_url(inst))

    assert first.status_code == 201, first.content
    body = first.json()["payment"]
    assert first.json()["action"] == {"type": "redirect", "url": body["checkout_url"]}
    assert body["amount"] == "1200.00" and body["currency"] == "CNY"
    assert body["status"] == "pending"
    assert body["checkout_url"].startswith("/sandbox/checkout/")
    assert again.status_code == 200
    assert again.json()["payment"]["id"] == body["id"]
    assert Payment.objects.count() == 1


def test_store_staff_may_open_the_payment_for_the_consumer(client_for, order, store_manager):
    response = client_for(store_manager).post(pay_url(inst_of(order, "booking")))
    assert response.status_code == 201


def test_not_due_installment_answers_409_invalid_transition(client_for, order, consumer):
    response = client_for(consumer).post(pay_url(inst_of(order, "design")))

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "invalid_transition" and body["allowed"] == [] and body["state"] == "scheduled"


def test_paid_installment_cannot_be_paid_again(client_for, order, consumer):
    pay_due_installments(order)
    response = client_for(consumer).post(pay_url(inst_of(order, "booking")))
    assert response.status_code == 409


@pytest.mark.parametrize("who, status", [
    ("consumer2", 404), ("other_consumer", 404), ("other_admin", 404), ("other_store_manager", 404),
    ("technician", 403), ("operator", 403), ("other_technician", 403),
])
def test_others_cannot_pay(request, client_for, order, who, status):
    user = request.getfixturevalue(who)
    response = client_for(user).post(pay_url(inst_of(order, "booking")))
    assert response.status_code == status
    assert Payment.objects.count() == 0


def test_installment_list_is_scoped_and_filterable(client_for, order, consumer, other_consumer, store, merchant_admin):
    mine = client_for(consumer).get(f"/api/v1/installments/?order={order.pk}")
    theirs = client_for(other_consumer).get(f"/api/v1/installments/?order={order.pk}")
    staff = client_for(merchant_admin).get("/api/v1/installments/")

    assert mine.status_code == 200
    assert [r["amount"] for r in mine.json()["results"]] == ["1200.00", "3600.00", "6000.00", "1200.00"]
    assert theirs.json()["results"] == []
    assert staff.json()["count"] == 4


def test_payment_detail_is_scoped(client_for, order, consumer, other_consumer, other_admin):
    pid = client_for(consumer).post(pay_url(inst_of(order, "booking"))).json()["payment"]["id"]

    assert client_for(consumer).get(f"/api/v1/payments/{pid}/").status_code == 200
    assert client_for(other_consumer).get(f"/api/v1/payments/{pid}/").status_code == 404
    assert client_for(other_admin).get(f"/api/v1/payments/{pid}/").status_code == 404


@pytest.mark.usefixtures("english")
def test_staff_refund_over_the_api(client_for, order, store_manager, consumer, other_admin):
    payment = pay_due_installments(order)[0]
    url = f"/api/v1/payments/{payment.pk}/refund/"

    assert client_for(consumer).post(url, {"amount": "1.00"}).status_code == 403
    assert client_for(other_admin).post(url, {"amount": "1.00"}).status_code == 404
    ok = client_for(store_manager).post(url, {"amount": "200.00", "reason": "goodwill"})
    too_much = client_for(store_manager).post(url, {"amount": "1000.01"})
    bad = client_for(store_manager).post(url, {"amount": "abc"})
    sub_cent = client_for(store_manager).post(url, {"amount": "0.001"})
    # Money comes in as a decimal string, as on order create: a JSON number and an exponent are refused.
    number = client_for(store_manager).post(url, {"amount": 5}, format="json")
    exponent = client_for(store_manager).post(url, {"amount": "1e2"}, format="json")
    zero = client_for(store_manager).post(url, {"amount": "0"}, format="json")

    assert ok.status_code == 201, ok.content
    assert ok.json()["status"] == "succeeded" and ok.json()["amount"] == "200.00"
    assert too_much.status_code == 409 and too_much.json()["code"] == "refund_exceeds_captured"
    assert too_much.json()["refundable"] == "1000.00"
    assert bad.status_code == 400 and sub_cent.status_code == 400
    assert number.status_code == exponent.status_code == zero.status_code == 400
    assert "greater than or equal to 0.01" in zero.json()["errors"]["amount"][0]
    assert inst_of(order, "booking").state == "partially_refunded"


@pytest.mark.usefixtures("english")
def test_sandbox_checkout_page_pay_button_redirects_back(client, order, consumer, client_for):
    body = client_for(consumer).post(pay_url(inst_of(order, "booking"))).json()["payment"]

    page = client.get(body["checkout_url"] + "?return=/track/abc/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "CN¥1,200.00" in html and 'value="paid"' in html and 'value="failed"' in html
    assert "http://" not in html and "https://" not in html  # no external CDN

    done = client.post(body["checkout_url"] + "?return=/track/abc/", {"outcome": "paid"})
    assert done.status_code == 302 and done["Location"] == "/track/abc/"
    assert Payment.objects.get(pk=body["id"]).status == "captured"
    # paying twice: the page says so, nothing changes
    again = client.post(body["checkout_url"], {"outcome": "paid"})
    assert again.status_code == 409


def test_sandbox_checkout_json_fail_and_foreign_return_url(client, order, consumer, client_for):
    body = client_for(consumer).post(pay_url(inst_of(order, "booking"))).json()["payment"]

    response = client.post(body["checkout_url"] + "?return=https://evil.example/", {"outcome": "failed"},
                           content_type="application/json")

    assert response.status_code == 200
    assert response.json() == {"payment": body["id"], "status": "failed", "return_url": None}
    assert inst_of(order, "booking").state == "failed"
    assert client.post(body["checkout_url"], {"outcome": "maybe"},
                       content_type="application/json").status_code == 400
    assert client.get("/sandbox/checkout/not-a-token/").status_code == 404


@pytest.mark.usefixtures("english")
def test_jpy_order_pays_whole_yen(client_for, store, consumer):
    order = make_order(store=store, consumer=consumer, total=Decimal("100001"), currency="JPY")
    body = client_for(consumer).post(pay_url(inst_of(order, "booking"))).json()["payment"]
    assert body["amount"] == "10000" and body["currency"] == "JPY"
    assert Installment.objects.filter(order=order).first().amount == Decimal("10000")
    page = client_for(consumer).get(body["checkout_url"]).content.decode()
    assert "Pay ¥10,000" in page and "10000.00" not in page
