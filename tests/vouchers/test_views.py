"""What each caller sees of vouchers: the consumer their code and QR; everybody else last4 only."""

import re

import pytest
from django.test import RequestFactory

from tests.factories.vouchers import code_of, make_voucher_order, voucher_of
from vouchers import codes
from vouchers.plugin import serialize_section
from workflows.selectors import order_detail_load, order_detail_queryset


def test_consumer_lists_own_vouchers_with_the_code(client_for, consumer, order, voucher, code,
                                                   other_consumer, other_store):
    make_voucher_order(store=other_store, consumer=other_consumer)
    response = client_for(consumer).get("/api/v1/vouchers/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [r["id"] for r in rows] == [voucher.pk]
    assert rows[0]["code"] == code and codes.normalize(rows[0]["code"])
    assert rows[0]["qr_url"].endswith(f"/api/v1/vouchers/{voucher.pk}/qr/")
    assert rows[0]["stage_code"] == "visit" and rows[0]["state"] == "issued"


@pytest.mark.parametrize("who", ["store_manager", "merchant_admin", "operator"])
def test_staff_list_without_the_code(request, client_for, who, order, voucher, code):
    user = request.getfixturevalue(who)
    response = client_for(user).get("/api/v1/vouchers/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [r["id"] for r in rows] == [voucher.pk]
    assert rows[0]["code"] is None and rows[0]["qr_url"] is None
    assert rows[0]["last4"] == codes.normalize(code)[-4:]
    assert code not in response.content.decode() and codes.normalize(code) not in response.content.decode()


def test_assigned_technician_sees_the_voucher_of_the_job_without_code(client_for, technician, job, voucher):
    rows = client_for(technician).get("/api/v1/vouchers/").json()["results"]
    assert [(r["id"], r["code"]) for r in rows] == [(voucher.pk, None)]


@pytest.mark.parametrize("who", ["other_admin", "other_store_manager", "other_consumer", "consumer2",
                                 "technician"])
def test_others_do_not_see_the_voucher(request, client_for, who, voucher):
    user = request.getfixturevalue(who)
    client = client_for(user)
    assert client.get("/api/v1/vouchers/").json()["results"] == []
    assert client.get(f"/api/v1/vouchers/{voucher.pk}/").status_code == 404


def test_consumer_reads_one_voucher(client_for, consumer, voucher, code):
    body = client_for(consumer).get(f"/api/v1/vouchers/{voucher.pk}/").json()
    assert body["id"] == voucher.pk and body["code"] == code


def test_list_filters_by_state(client_for, consumer, voucher):
    client = client_for(consumer)
    assert client.get("/api/v1/vouchers/?state=issued").json()["count"] == 1
    assert client.get("/api/v1/vouchers/?state=redeemed").json()["count"] == 0
    assert client.get("/api/v1/vouchers/?order=abc").status_code == 400


def test_qr_is_svg_for_the_owner(client_for, consumer, voucher):
    response = client_for(consumer).get(f"/api/v1/vouchers/{voucher.pk}/qr/")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert b"<svg" in response.content
    assert "no-store" in response["Cache-Control"]
    # a full QR code (21 or 25 modules, not a 17-module Micro QR code), its 4-module quiet zone, 6 px a module
    assert re.search(rb'^<svg [^>]*width="(174|198)" height="\1"', response.content)


@pytest.mark.parametrize("who", ["store_manager", "merchant_admin", "technician", "consumer2", "other_admin",
                                 "operator"])
def test_qr_is_404_for_anyone_else(request, client_for, who, job, voucher):
    user = request.getfixturevalue(who)
    assert client_for(user).get(f"/api/v1/vouchers/{voucher.pk}/qr/").status_code == 404


@pytest.mark.parametrize("pk", ["%C2%B2", "9" * 5000, "0", "-1"], ids=["superscript-two", "5000-digits", "zero",
                                                                    "negative"])
def test_qr_of_something_that_is_not_an_id_is_a_404(client_for, consumer, voucher, pk):
    """"²" passes str.isdigit() and int() of 5,000 digits raises: both were a 500."""
    assert client_for(consumer).get(f"/api/v1/vouchers/{pk}/qr/").status_code == 404


def test_qr_needs_login(anon_client, voucher):
    assert anon_client.get(f"/api/v1/vouchers/{voucher.pk}/qr/").status_code in (401, 403)


def _section(user, order_ids):
    request = RequestFactory().get("/")
    request.user = user
    details = order_detail_load(order_detail_queryset(user=user).filter(pk__in=order_ids))
    return {d.order.pk: serialize_section(d, request) for d in details}


def test_order_section_gives_the_consumer_code_and_qr(consumer, store_manager, order, voucher, code):
    mine = _section(consumer, [order.pk])[order.pk]
    assert mine == [{
        "id": voucher.pk, "stage": voucher.stage_id, "stage_code": "visit", "state": "issued",
        "valid_from": voucher.valid_from, "valid_until": voucher.valid_until, "redeemed_at": None,
        "last4": voucher.last4, "code": code, "qr_url": f"/api/v1/vouchers/{voucher.pk}/qr/",
    }]
    staff = _section(store_manager, [order.pk])[order.pk]
    assert "code" not in staff[0] and "qr_url" not in staff[0]


def test_order_section_reads_loaded_data_only(store_manager, store, consumer, django_assert_num_queries):
    orders = [make_voucher_order(store=store, consumer=consumer) for _ in range(3)]
    qs = order_detail_load(order_detail_queryset(user=store_manager).filter(pk__in=[o.pk for o in orders]))
    request = RequestFactory().get("/")
    request.user = store_manager
    with django_assert_num_queries(0):
        for o in qs:
            assert len(serialize_section(o, request)) == 1


def test_order_detail_api_shows_vouchers(client_for, consumer, store_manager, order, voucher, code):
    body = client_for(consumer).get(f"/api/v1/orders/{order.pk}/").json()
    assert body["vouchers"][0]["code"] == code
    staff = client_for(store_manager).get(f"/api/v1/orders/{order.pk}/")
    assert "code" not in staff.json()["vouchers"][0]
    assert codes.normalize(code) not in staff.content.decode() and code not in staff.content.decode()


def test_voucher_of_another_order_is_not_in_this_order(consumer, store, order, consumer2):
    other = make_voucher_order(store=store, consumer=consumer2)
    assert code_of(voucher_of(other)) not in str(_section(consumer, [order.pk]))
