"""Redeeming a voucher on site or at the store: who may, when, and every refusal changing nothing."""

import logging
from datetime import timedelta

import pytest

from tests.factories import StoreFactory, TechnicianFactory
from tests.factories.vouchers import code_of, make_voucher_order, start_visit, voucher_of
from vouchers import codes
from vouchers.models import Voucher
from workflows.models import OrderEvent


def _snapshot(order):
    v = Voucher.objects.filter(order=order).values("pk", "state", "redeemed_at", "redeemed_by").get()
    return v, OrderEvent.objects.filter(order=order).count()


def test_assigned_technician_redeems_on_the_job(redeem, technician, started_job, order, code):
    response = redeem(technician, code, job=started_job)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["state"] == "redeemed" and body["redeemed_by"] == technician.pk
    assert body["redeemed_job"] == started_job.pk and body["code"] is None
    voucher = voucher_of(order)
    assert voucher.state == "redeemed" and voucher.redeemed_job_id == started_job.pk
    event = OrderEvent.objects.get(order=order, kind="voucher.redeemed")
    assert event.actor_id == technician.pk
    assert event.payload["job"] == started_job.pk and event.payload["redeemed_at"]
    assert event.payload["latitude"] is None  # no check-in recorded for this job


def test_redeem_event_records_where_the_technician_checked_in(redeem, technician, checked_in_job, order, code):
    assert redeem(technician, code, job=checked_in_job).status_code == 200
    voucher = voucher_of(order)
    assert (voucher.redeemed_latitude, voucher.redeemed_longitude) == (order.latitude, order.longitude)
    event = OrderEvent.objects.get(order=order, kind="voucher.redeemed")
    assert event.payload["latitude"] == str(order.latitude)
    assert event.payload["longitude"] == str(order.longitude)


def test_technician_may_redeem_once_booked_before_starting(redeem, technician, job, code):
    assert redeem(technician, code, job=job).status_code == 200


def test_store_manager_redeems_at_the_counter_without_a_job(redeem, store_manager, job, order, code):
    response = redeem(store_manager, code.lower().replace("-", " "))
    assert response.status_code == 200, response.content
    assert voucher_of(order).redeemed_by_id == store_manager.pk


def test_merchant_admin_may_redeem(redeem, merchant_admin, job, code):
    assert redeem(merchant_admin, code).status_code == 200


def test_technician_must_name_the_job(redeem, technician, job, order, code):
    before = _snapshot(order)
    assert redeem(technician, code).status_code == 400
    assert _snapshot(order) == before


def test_consumer_may_not_redeem(redeem, consumer, job, order, code):
    before = _snapshot(order)
    assert redeem(consumer, code).status_code == 403
    assert _snapshot(order) == before


def test_technician_not_on_the_job_gets_404(redeem, job, order, code, store):
    intruder = TechnicianFactory(stores=[store])
    before = _snapshot(order)
    response = redeem(intruder, code, job=job)
    assert response.status_code == 404
    assert _snapshot(order) == before


def test_malformed_code_is_400_invalid_code(redeem, store_manager, job, order, code):
    typo = code[:-1] + ("0" if code[-1] != "0" else "1")
    before = _snapshot(order)
    response = redeem(store_manager, typo)
    assert response.status_code == 400 and response.json()["code"] == "invalid_code"
    assert _snapshot(order) == before


def test_unknown_and_foreign_codes_get_the_same_404(
        redeem, store_manager, job, order, code, store, consumer2, other_store, other_consumer,
        other_store_manager, other_technician, technician):
    # a code of another store of the same brand, of another brand, and one that does not exist
    store_b = StoreFactory(merchant=store.merchant)
    sister = voucher_of(make_voucher_order(store=store_b, consumer=consumer2))
    foreign = voucher_of(make_voucher_order(store=other_store, consumer=other_consumer))
    unknown = codes.display(codes.generate())
    before = _snapshot(order)
    bodies = []
    for text in (code_of(sister), code_of(foreign), unknown):
        response = redeem(store_manager, text)
        assert response.status_code == 404
        bodies.append(response.content)
    # and the other brand's staff asking for our code
    response = redeem(other_store_manager, code)
    assert response.status_code == 404
    bodies.append(response.content)
    assert len(set(bodies)) == 1
    assert b'"voucher_not_found"' in bodies[0]
    assert _snapshot(order) == before
    assert Voucher.objects.filter(state="redeemed").count() == 0


def test_code_of_another_stage_than_the_job_is_the_same_404(redeem, technician, job, order, store, consumer2):
    other_order = make_voucher_order(store=store, consumer=consumer2)
    other_code = code_of(voucher_of(other_order))
    unknown = redeem(technician, codes.display(codes.generate()), job=job)
    response = redeem(technician, other_code, job=job)
    assert response.status_code == 404 and response.content == unknown.content
    assert voucher_of(other_order).state == "issued"


def test_expired_voucher_is_refused(redeem, store_manager, job, order, code):
    Voucher.objects.filter(order=order).update(valid_until=job.created_at - timedelta(seconds=1))
    before = _snapshot(order)
    response = redeem(store_manager, code)
    assert response.status_code in (409, 410) and response.json()["code"] == "voucher_expired"
    assert _snapshot(order) == before


def test_revoked_voucher_is_refused(redeem, store_manager, job, order, code):
    Voucher.objects.filter(order=order).update(state="revoked")
    before = _snapshot(order)
    response = redeem(store_manager, code)
    assert response.status_code == 409 and response.json()["code"] == "voucher_revoked"
    assert _snapshot(order) == before


def test_second_redeem_is_refused(redeem, store_manager, technician, started_job, order, code):
    assert redeem(technician, code, job=started_job).status_code == 200
    before = _snapshot(order)
    response = redeem(store_manager, code)
    assert response.status_code == 409 and response.json()["code"] == "voucher_already_redeemed"
    assert _snapshot(order) == before


def test_stage_must_be_booked_before_redeeming(redeem, store_manager, order, code):
    before = _snapshot(order)
    response = redeem(store_manager, code)
    assert response.status_code == 409 and response.json()["code"] == "stage_not_ready"
    assert _snapshot(order) == before


def test_garbage_input_is_a_clear_400(client_for, store_manager, job):
    client = client_for(store_manager)
    for body in ({"code": ""}, {"code": "x" * 500}, {"code": "A" * 17, "job": "abc"}, {}, {"code": ["a"]}):
        response = client.post("/api/v1/vouchers/redeem/", body, format="json")
        assert response.status_code == 400, (body, response.content)


def test_codes_never_reach_the_logs(redeem, technician, store_manager, job, order, code, caplog, consumer):
    caplog.set_level(logging.DEBUG)
    normalized = codes.normalize(code)
    typo = code[:-1] + ("0" if code[-1] != "0" else "1")
    redeem(store_manager, typo)
    redeem(store_manager, codes.display(codes.generate()))
    redeem(consumer, code)
    start_visit(job)
    assert redeem(technician, code, job=job).status_code == 200
    text = caplog.text.upper()
    for secret in (normalized, code.upper(), normalized[:-1], typo.upper()):
        assert secret not in text
    for record in caplog.records:
        assert normalized not in str(record.args).upper()


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_redeem_only_accepts_post(client_for, store_manager, method):
    response = getattr(client_for(store_manager), method)("/api/v1/vouchers/redeem/")
    assert response.status_code == 405
