"""The order page in the admin shows the whole order in words, in a fixed number of queries."""

import re

import pytest
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from payments.models import Payment
from payments.services import payment_refund
from tests.admin.conftest import web
from workflows.events import declared_kinds

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]  # reads English wording


def page_of(client, order):
    response = client.get(reverse("admin:workflows_serviceorder_change", args=[order.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_shows_stages_money_vouchers_visits_checkins_photos_and_the_timeline(manager_web, busy_order,
                                                                                      store_manager):
    payment = Payment.objects.get(order=busy_order)
    payment_refund(payment=payment, amount="200.00", actor=store_manager, reason="goodwill")
    html = page_of(manager_web, busy_order)
    # states in words, never the engine's codes
    assert "measuring:in_progress" not in html and 'data-testid="order-state">Measuring on site: In progress<' in html
    assert 'data-stage="booking" data-state="done"' in html
    # money: the installment, the payment's channel and status, the refund
    assert f'data-payment="{payment.pk}" data-status="partially_refunded"' in html
    assert f"<td>{payment.provider}</td>" in html and "1200.00 CNY" in html
    assert re.search(r'data-testid="refunds".*200\.00 CNY.*goodwill', html, re.S)
    # vouchers: the status and the last 4 characters, never the code
    voucher = busy_order.vouchers.get(stage__definition__code="measuring")
    from vouchers.services import voucher_code

    assert voucher_code(voucher) not in html and f"••••{voucher.last4}" in html
    # the visit, its check-in 400 m away flagged, the photo as a thumbnail
    assert 'data-testid="outside-radius"' in html and re.search(r">\s*4\d\d m", html)
    assert re.search(rf'<img class="wb-thumb" src="/api/v1/orders/{busy_order.pk}/evidence/\d+/file/"', html)
    # the timeline in words
    assert "The technician checked in on site (time and place)." in html
    assert 'data-kind="job.checkin_outside_radius"' in html


def test_the_timeline_is_in_the_readers_language(busy_order, store_manager):
    store_manager.language = "zh-hans"
    store_manager.save(update_fields=["language"])
    html = page_of(web(store_manager), busy_order)
    assert "师傅已在现场签到（时间和地点）。" in html and "The technician checked in on site" not in html


def test_every_event_kind_has_its_chinese_meaning():
    with translation.override("zh-hans"):
        untranslated = [k.name for k in declared_kinds().values() if gettext(k.meaning) == k.meaning]
    assert not untranslated, untranslated


def test_the_photo_thumbnail_loads_for_the_store_manager(manager_web, busy_order):
    html = page_of(manager_web, busy_order)
    src = re.search(r'<img class="wb-thumb" src="([^"]+)"', html).group(1)
    response = manager_web.get(src)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"


def test_the_page_costs_the_same_queries_whatever_the_order_holds(manager_web, busy_order, store_manager, client_for,
                                                                  technician, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.fieldwork.helpers import photo_upload

    with CaptureQueriesContext(connection) as before:
        page_of(manager_web, busy_order)
    count = len(before)  # read now: the next request resets the connection's query log
    # more rows of every kind: photos, refunds (and their events)
    tech = client_for(technician)
    visit = busy_order.appointments.get()
    for _ in range(3):
        assert photo_upload(tech, visit).status_code in (200, 201)
    payment = Payment.objects.get(order=busy_order)
    for _ in range(2):
        payment_refund(payment=payment, amount="10.00", actor=store_manager)
    with django_assert_max_num_queries(count):
        html = page_of(manager_web, busy_order)
    # 16 since the merges: the order detail's payment channels (brand accounts) and the SLA pause come along
    assert html.count('class="wb-thumb"') == 4 and count <= 16


def test_an_order_of_another_tenant_is_404(busy_order, other_store_manager, other_admin):
    for user in (other_store_manager, other_admin):
        response = web(user).get(reverse("admin:workflows_serviceorder_change", args=[busy_order.pk]))
        assert response.status_code == 404
