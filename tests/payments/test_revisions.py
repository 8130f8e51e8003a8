"""Price revisions (增减项): staff propose a new total with the items that explain it, the consumer accepts or
declines; accepting re-splits the unpaid installments exactly and refunds what was paid beyond the new total."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from notifications.models import Notification
from payments.models import Installment, PriceRevision, Refund
from payments.services import installment_pay, revision_split
from payments.services.revisions import SplitRow
from tests.factories.payments import pay_due_installments
from tests.factories.workflows import make_order
from workflows import services as wf
from workflows.models import OrderEvent, ServiceOrder

D = Decimal


def _url(order):
    return f"/api/v1/orders/{order.pk}/revisions/"


def _body(total="13000.00", lines=(("Extra shelf", "1500.00"), ("No drawer", "-500.00")), reason="measured"):
    return {"total_amount": total, "reason": reason,
            "lines": [{"description": d, "amount": a} for d, a in lines]}


def _amounts(order):
    return {i.stage.definition.code: (i.amount, i.state) for i in
            Installment.objects.filter(order=order).select_related("stage__definition")}


@pytest.fixture
def paid_order(order):
    pay_due_installments(order)  # the 1,200.00 deposit
    return order


@pytest.mark.parametrize("who", ["manager_client", "admin_client_api"])
def test_staff_propose_and_see_the_split(request, who, paid_order):
    client = request.getfixturevalue(who)
    response = client.post(_url(paid_order), _body(), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "open" and body["old_total"] == "12000.00" and body["new_total"] == "13000.00"
    assert [line["amount"] for line in body["lines"]] == ["1500.00", "-500.00"]
    split = {row["stage_code"]: row["new_amount"] for row in body["split"]}
    # the deposit is paid and stays; 11,800.00 left is split 30:50:10, exactly
    assert split == {"booking": "1200.00", "design": "3933.33", "installation": "6555.56", "acceptance": "1311.11"}
    assert sum(D(v) for v in split.values()) == D("13000.00")
    assert ServiceOrder.objects.get(pk=paid_order.pk).total_amount == D("12000.00")  # nothing changes yet
    event = OrderEvent.objects.get(order=paid_order, kind="revision.proposed")
    assert event.payload["amount"] == "13000.00" and event.payload["previous_amount"] == "12000.00"


def test_the_consumer_is_texted_the_new_total_and_the_link(manager_client, paid_order, english):
    manager_client.post(_url(paid_order), _body(), format="json")

    sms = Notification.objects.get(order=paid_order, kind="revision.proposed", channel="sms")
    assert "13,000.00" in sms.body and "12,000.00" in sms.body and "/track/" in sms.body


def test_accept_resplits_unpaid_installments_and_tells_the_store(manager_client, consumer_client, paid_order,
                                                                   store_manager):
    rev = manager_client.post(_url(paid_order), _body(), format="json").json()

    response = consumer_client.post(f"/api/v1/revisions/{rev['id']}/accept/")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "accepted"
    order = ServiceOrder.objects.get(pk=paid_order.pk)
    assert order.total_amount == D("13000.00")
    amounts = _amounts(order)
    assert amounts["booking"] == (D("1200.00"), "paid")
    assert amounts["installation"][0] == D("6555.56")
    assert sum(a for a, _ in amounts.values()) == D("13000.00")
    event = OrderEvent.objects.get(order=order, kind="revision.accepted")
    assert event.payload["refund_amount"] == "0.00"
    assert Notification.objects.filter(order=order, kind="revision.accepted", recipient=store_manager).exists()
    # the order's detail shows the new total and the new installments
    detail = consumer_client.get(f"/api/v1/orders/{order.pk}/").json()
    assert detail["total_amount"] == "13000.00"
    assert sum(D(i["amount"]) for i in detail["installments"]) == D("13000.00")


def test_decline_keeps_the_total_and_tells_the_store(manager_client, consumer_client, paid_order, store_manager):
    rev = manager_client.post(_url(paid_order), _body(), format="json").json()

    response = consumer_client.post(f"/api/v1/revisions/{rev['id']}/decline/")

    assert response.status_code == 200 and response.json()["status"] == "declined"
    assert ServiceOrder.objects.get(pk=paid_order.pk).total_amount == D("12000.00")
    assert _amounts(paid_order)["installation"][0] == D("6000.00")
    assert OrderEvent.objects.filter(order=paid_order, kind="revision.declined").count() == 1
    assert Notification.objects.filter(order=paid_order, kind="revision.declined", recipient=store_manager).exists()
    # answered once: a second answer is a 409, and staff may now propose another
    assert consumer_client.post(f"/api/v1/revisions/{rev['id']}/accept/").status_code == 409
    assert manager_client.post(_url(paid_order), _body(), format="json").status_code == 201


def test_a_new_total_below_what_was_paid_refunds_the_difference(manager_client, consumer_client, paid_order,
                                                                 django_capture_on_commit_callbacks):
    rev = manager_client.post(_url(paid_order), _body("1000.00", [("Smaller wardrobe", "-11000.00")]),
                              format="json").json()
    assert {row["stage_code"]: row["new_amount"] for row in rev["split"]}["installation"] == "0.00"

    with django_capture_on_commit_callbacks(execute=True):
        response = consumer_client.post(f"/api/v1/revisions/{rev['id']}/accept/")

    assert response.status_code == 200, response.content
    assert response.json()["refund_amount"] == "200.00"
    refund = Refund.objects.get(payment__order=paid_order)
    assert refund.amount == D("200.00") and refund.reason == f"price revision {rev['id']}"
    amounts = _amounts(paid_order)
    assert amounts["booking"][0] == D("1200.00")
    assert all(a == 0 and s == "waived" for code, (a, s) in amounts.items() if code != "booking")


def test_acceptance_waits_for_a_payment_in_flight(manager_client, consumer_client, order, consumer):
    installment_pay(installment=Installment.objects.get(order=order, stage__definition__code="booking"),
                    actor=consumer)  # opened, never finished
    rev = manager_client.post(_url(order), _body(), format="json").json()

    response = consumer_client.post(f"/api/v1/revisions/{rev['id']}/accept/")

    assert response.status_code == 409 and response.json()["code"] == "payment_in_progress"
    assert PriceRevision.objects.get(pk=rev["id"]).status == "open"


@pytest.mark.parametrize(("body", "field", "code"), [
    (_body(lines=[("Extra shelf", "1500.00")]), "lines", "lines_mismatch"),
    (_body(total="0.00", lines=[("All", "-12000.00")]), "total_amount", "invalid"),
    (_body(total="12000.00", lines=[("Swap", "100.00"), ("Swap back", "-100.00")]), "total_amount", "invalid"),
    (_body(lines=[]), "lines", "invalid"),
    (_body(reason="  "), "reason", "invalid"),
    (_body(lines=[("Nothing", "0.00"), ("Extra", "1000.00")]), "lines[0].amount", "invalid"),
    (_body(total="13000.001"), "total_amount", None),
    ({"total_amount": 13000, "reason": "x", "lines": []}, "total_amount", None),
])
def test_invalid_proposals_answer_400(manager_client, paid_order, english, body, field, code):
    response = manager_client.post(_url(paid_order), body, format="json")

    assert response.status_code == 400, response.content
    data = response.json()
    if code:
        assert data["code"] == code
    assert field in (data.get("errors") or data)
    if code == "lines_mismatch":
        assert "new total minus the current total" in data["detail"]
    assert not PriceRevision.objects.exists()


def test_amounts_in_the_currency_minor_units(manager_client, store, consumer, store_manager):
    order = make_order(store=store, consumer=consumer, total=D("120000"), currency="JPY", actor=store_manager)

    response = manager_client.post(_url(order), _body("130000.50", [("Shelf", "10000.50")]), format="json")

    assert response.status_code == 400 and "total_amount" in response.json()["errors"]


def test_one_open_revision_at_a_time(manager_client, paid_order):
    assert manager_client.post(_url(paid_order), _body(), format="json").status_code == 201
    response = manager_client.post(_url(paid_order), _body(), format="json")
    assert response.status_code == 409 and response.json()["code"] == "revision_open"


def test_not_on_a_cancelled_order(manager_client, paid_order, store_manager):
    wf.order_cancel(order=paid_order, actor=store_manager, reason="gone")
    response = manager_client.post(_url(paid_order), _body(), format="json")
    assert response.status_code == 409 and response.json()["code"] == "invalid_transition"


def test_a_cancelled_order_cannot_accept_its_open_revision(manager_client, consumer_client, paid_order, store_manager):
    rev = manager_client.post(_url(paid_order), _body(), format="json").json()
    wf.order_cancel(order=paid_order, actor=store_manager, reason="gone")
    assert consumer_client.post(f"/api/v1/revisions/{rev['id']}/accept/").status_code == 409


PAY_ALL_FIRST = {"name": "Pay first", "stages": [
    {"code": "payment", "name": "Payment", "payment_share": D("100"), "payment_timing": "before"},
    {"code": "work", "name": "Work", "requires_approval": True},
]}


def test_not_once_everything_is_paid(manager_client, store, consumer, store_manager):
    order = make_order(store=store, consumer=consumer, definition=PAY_ALL_FIRST, actor=store_manager)
    pay_due_installments(order)

    response = manager_client.post(_url(order), _body(), format="json")

    assert response.status_code == 409 and response.json()["code"] == "nothing_to_revise"


def test_who_may_propose_and_answer(paid_order, client_for, technician, consumer_client, other_admin,
                                    other_store_manager, other_consumer, consumer2, manager_client, admin_client_api,
                                    operator_client):
    assert client_for(technician).post(_url(paid_order), _body(), format="json").status_code == 403
    assert consumer_client.post(_url(paid_order), _body(), format="json").status_code == 403
    assert operator_client.post(_url(paid_order), _body(), format="json").status_code == 403
    assert client_for(other_admin).post(_url(paid_order), _body(), format="json").status_code == 404
    assert client_for(other_store_manager).post(_url(paid_order), _body(), format="json").status_code == 404
    rev = manager_client.post(_url(paid_order), _body(), format="json").json()
    accept = f"/api/v1/revisions/{rev['id']}/accept/"
    assert manager_client.post(accept).status_code == 403
    assert admin_client_api.post(accept).status_code == 403
    assert client_for(technician).post(accept).status_code == 403
    assert client_for(other_consumer).post(accept).status_code == 404
    assert client_for(consumer2).post(accept).status_code == 404
    assert client_for(consumer2).get(_url(paid_order)).status_code == 404
    assert client_for(technician).get(_url(paid_order)).status_code == 403
    listed = consumer_client.get(_url(paid_order)).json()
    assert [r["id"] for r in listed["results"]] == [rev["id"]] and listed["results"][0]["split"]
    assert PriceRevision.objects.get(pk=rev["id"]).status == "open"


# --- the split itself: exact, paid rows untouched, refunds never above what was paid -------------------------

money = st.decimals(min_value=D("0.00"), max_value=D("50000.00"), places=2)


@given(rows=st.lists(st.tuples(money, st.integers(min_value=0, max_value=100), st.none() | money),
                     min_size=1, max_size=8),
       paid_prefix=st.integers(min_value=0, max_value=8), new_total=money.filter(lambda d: d > 0),
       places=st.sampled_from([("CNY", 2), ("JPY", 0)]))
def test_split_property(rows, paid_prefix, new_total, places):
    """A stage carries a share or (third item) a fixed amount: an unpaid fixed amount is kept whenever the rest
    covers the fixed amounts and a share is left to take the remainder."""
    currency, n = places
    unit = D(1).scaleb(-n)
    new_total = new_total.quantize(unit)
    split_rows = [SplitRow(amount.quantize(unit), D(0) if fixed else D(share), i >= paid_prefix,
                           fixed.quantize(unit) if fixed else None)
                  for i, (amount, share, fixed) in enumerate(rows)]
    split = revision_split(new_total, split_rows, currency)
    paid = sum((r.amount for r in split_rows if not r.unpaid), D(0))

    assert len(split.amounts) == len(split_rows)
    for row, amount in zip(split_rows, split.amounts, strict=True):
        if not row.unpaid:
            assert amount == row.amount  # paid installments are never re-split
        assert amount >= 0 and amount == amount.quantize(unit)
    assert 0 <= split.refund <= paid
    if any(r.unpaid for r in split_rows) and new_total >= paid:
        assert sum(split.amounts, D(0)) == new_total and split.refund == 0
    if new_total < paid:
        assert split.refund == paid - new_total
        assert all(a == 0 for r, a in zip(split_rows, split.amounts, strict=True) if r.unpaid)
    unpaid = [r for r in split_rows if r.unpaid]
    if (any(r.share > 0 for r in unpaid)
            and new_total - paid >= sum((r.fixed for r in unpaid if r.fixed), D(0)) > 0):
        for row, amount in zip(split_rows, split.amounts, strict=True):
            if row.unpaid and row.fixed:
                assert amount == row.fixed  # a deposit keeps its amount


# --- the same through the services, on real orders: random shares, totals and paid prefixes -----------------


def _passive_paying(shares: list[int]) -> dict:
    """Stages that only take a payment (each opens once paid), then one that waits for the consumer's approval:
    paying the due installments one by one gives any paid prefix."""
    stages = [{"code": f"p{i}", "name": f"Pay {i}", "payment_share": D(s), "payment_timing": "before"}
              for i, s in enumerate(shares)]
    return {"name": "Prefix", "stages": [*stages, {"code": "work", "name": "Work", "requires_approval": True}]}


@st.composite
def shares_summing_to_100(draw):
    n = draw(st.integers(min_value=2, max_value=5))
    cuts = sorted(draw(st.lists(st.integers(min_value=1, max_value=99), min_size=n - 1, max_size=n - 1,
                                unique=True)))
    return [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]


@given(shares=shares_summing_to_100(), total=st.integers(min_value=1, max_value=10**7),
       new_total=st.integers(min_value=1, max_value=10**7), paid_count=st.integers(min_value=0, max_value=4))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_accepting_is_exact_on_real_orders(store, consumer, store_manager, shares, total, new_total, paid_count,
                                           django_capture_on_commit_callbacks):
    from payments.services import revision_accept, revision_propose
    from tests.factories.payments import pay_installment

    total, new_total = D(total) / 100, D(new_total) / 100
    order = make_order(store=store, consumer=consumer, definition=_passive_paying(shares), total=total,
                       actor=store_manager)
    for _ in range(min(paid_count, len(shares) - 1)):
        due = Installment.objects.filter(order=order, state__in=Installment.PAYABLE_STATES).order_by("position")
        if due.exists():  # a tiny total may leave 0.00 installments, waived at once
            pay_installment(due.first())
    before = {i.pk: (i.amount, i.state) for i in Installment.objects.filter(order=order)}
    paid = sum((a for a, s in before.values() if s == "paid"), D(0))
    # a revision needs a change and something still unpaid (else 400 / 409, tested above)
    assume(new_total != total and any(s in ("scheduled", "due") for _, s in before.values()))
    revision = revision_propose(order=order, actor=store_manager, total_amount=new_total, reason="measured",
                                lines=[{"description": "change", "amount": str(new_total - total)}])
    with django_capture_on_commit_callbacks(execute=True):
        revision = revision_accept(revision=revision, actor=consumer)

    after = {i.pk: (i.amount, i.state) for i in Installment.objects.filter(order=order)}
    assert ServiceOrder.objects.get(pk=order.pk).total_amount == new_total
    for pk, (amount, state) in before.items():
        if state == "paid":
            assert after[pk][0] == amount  # paid installments keep their amounts
    refunded = sum((r.amount for r in Refund.objects.filter(payment__order=order)), D(0))
    assert refunded == revision.refund_amount == max(paid - new_total, D(0)) and refunded <= paid
    assert sum(a for a, _ in after.values()) - revision.refund_amount == new_total
    if new_total >= paid:
        assert sum(a for a, _ in after.values()) == new_total


def test_money_arriving_late_for_an_old_amount_goes_back(manager_client, consumer_client, order, consumer,
                                                         django_capture_on_commit_callbacks):
    """An attempt opened before a revision, expired, then captured late by the provider: it no longer pays the
    re-split installment (another amount); it is sent back, the installment stays due, and paying the new amount
    works and is kept (the periodic resubmission does not take it for a duplicate)."""
    from datetime import timedelta

    from payments.models import Payment
    from payments.services import payment_expire, refunds_resubmit_stale
    from tests.factories.payments import pay_installment
    from tests.payments.helpers import deliver_capture

    booking = Installment.objects.get(order=order, stage__definition__code="booking")
    old = installment_pay(installment=booking, actor=consumer).payment
    payment_expire(payment_id=old.pk)
    rev = manager_client.post(_url(order), _body(), format="json").json()
    assert consumer_client.post(f"/api/v1/revisions/{rev['id']}/accept/").status_code == 200
    booking.refresh_from_db()
    assert booking.amount == D("1300.00") != old.amount

    with django_capture_on_commit_callbacks(execute=True):
        assert deliver_capture(old) == "captured_unowed"

    booking.refresh_from_db()
    assert booking.state == "due"
    assert Refund.objects.get(payment=old).amount == old.amount
    new = pay_installment(booking)
    booking.refresh_from_db()
    assert booking.state == "paid" and new.amount == booking.amount
    refunds_resubmit_stale(older_than=timedelta(seconds=-60))
    assert not Refund.objects.filter(payment=new).exists()
    assert Payment.objects.get(pk=new.pk).status == "captured"
