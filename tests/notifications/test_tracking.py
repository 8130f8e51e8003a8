"""The consumer's tracking page: a signed, revocable link; the order's state in plain words; paying
through the provider's checkout; vouchers with their QR codes."""

import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing

from notifications import plugin, services
from tests.factories.workflows import linear_stages, make_order
from workflows.hooks import OrderDetailRows
from workflows.models import OrderEvent, ServiceOrder

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


@pytest.fixture
def merchant(db):
    from tests.factories import MerchantFactory

    return MerchantFactory(name="Lumen Test Furniture", slug="lumen-test", tier="enterprise")


@pytest.fixture
def order(store, consumer, store_manager, technician):
    """The reference wardrobe order (CN¥12,000.00), waiting for its 10% booking deposit."""
    return make_order(store=store, consumer=consumer, actor=store_manager)


def page_url(order) -> str:
    return services.tracking_url(order)


def test_the_page_shows_the_timeline_the_current_step_and_what_is_due(client, order):
    assert order.state == "booking:waiting_payment"
    response = client.get(page_url(order))
    assert response.status_code == 200
    html = response.content.decode()
    assert [m for m in re.findall(r'data-stage="([a-z]+)" data-status="([a-z]+)"', html)] == [
        ("booking", "current"), ("measuring", "upcoming"), ("design", "upcoming"), ("installation", "upcoming"),
        ("acceptance", "upcoming"),
    ]
    assert "Booking: waiting for your payment." in html
    assert "Pay CN¥1,200.00 below to continue." in html
    assert 'data-testid="due-total">CN¥1,200.00<' in html
    assert 'data-testid="paid-total">CN¥0.00<' in html
    assert 'data-testid="outstanding-total">CN¥12,000.00<' in html  # everything is still to pay
    assert html.count('class="button wide"') == 1  # one Pay button: the booking deposit
    assert f'action="/track/{services.tracking_token(order)}/pay/' in html
    assert 'aria-valuenow="0"' in html


def test_a_yen_order_shows_whole_yen(client, store, consumer, store_manager):
    order = make_order(store=store, consumer=consumer, actor=store_manager, total=Decimal("120000"), currency="JPY")

    html = client.get(page_url(order)).content.decode()

    assert "¥120,000" in html  # the order's total, in the header
    assert "Pay ¥12,000 below to continue." in html
    assert 'data-testid="due-total">¥12,000<' in html
    assert 'data-testid="paid-total">¥0<' in html
    assert "¥12,000.00" not in html  # yen have no minor unit


def test_the_page_is_self_contained_and_private(client, order):
    response = client.get(page_url(order))
    html = response.content.decode()
    assert "<script" not in html  # works without JavaScript
    assert not re.search(r'(src|href)="(https?:)?//', html)  # no CDN, nothing loaded from elsewhere
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert response["Referrer-Policy"] == "same-origin"
    assert "no-store" in response["Cache-Control"]
    assert "noindex" in response["X-Robots-Tag"]


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature changed
    lambda t: "x" + t,
    lambda t: signing.dumps([1, 1]),  # signed with another salt
    lambda t: "not-a-token",
])
def test_a_bad_token_answers_the_not_valid_page(client, order, mangle):
    response = client.get(f"/track/{mangle(services.tracking_token(order))}/")
    assert response.status_code == 404
    assert "This tracking link is not valid" in response.content.decode()
    assert order.number not in response.content.decode()


def test_a_token_for_data_that_is_not_an_order_reference_is_refused(client, order):
    for data in (["1", 1], [order.pk], {"o": order.pk}, [True, 1]):
        token = signing.dumps(data, salt="notifications.tracking")
        assert client.get(f"/track/{token}/").status_code == 404


def test_revoking_the_link_kills_every_old_link_and_a_new_one_works(client, order, store_manager):
    old = page_url(order)
    services.tracking_link_revoke(order=order, actor=store_manager)
    assert client.get(old).status_code == 404
    fresh = ServiceOrder.objects.get(pk=order.pk)
    assert fresh.tracking_token_version == 2
    assert client.get(page_url(fresh)).status_code == 200
    event = OrderEvent.objects.filter(order=order).order_by("-seq").first()
    assert (event.kind, event.actor_id) == ("tracking.link_revoked", store_manager.pk)


def test_the_page_costs_the_same_queries_for_3_or_20_stages(client, store, consumer, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for n in (3, 20):
        order = make_order(store=store, consumer=consumer, definition=linear_stages(n))
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(page_url(order)).status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]
    # order, stages, submitted files, photos, visits, events, installments, money, vouchers
    assert counts[1] <= 9


def test_the_order_detail_section_gives_the_link_without_a_query(order, consumer, django_assert_num_queries, rf):
    request = rf.get("/api/v1/orders/1/")
    request.user = consumer
    with django_assert_num_queries(0):
        data = plugin.tracking_section(OrderDetailRows(order=order, stages=[], files={}, appointments=[], events=[]),
                                       request)
    assert data == f"http://testserver/track/{services.tracking_token(order)}/"


def test_with_a_site_url_the_links_are_absolute(order, settings):
    settings.SITE_URL = "https://track.example.com/"
    assert services.tracking_url(order) == f"https://track.example.com/track/{services.tracking_token(order)}/"


# --- paying from the page ------------------------------------------------------------------------


def _pay_form_action(html: str) -> str:
    return re.search(r'<form class="pay" method="post" action="([^"]+)"', html).group(1)


def test_pay_goes_to_the_checkout_and_back_and_the_booking_is_done(client, order):
    html = client.get(page_url(order)).content.decode()
    response = client.post(_pay_form_action(html))
    assert response.status_code == 302
    checkout = urlsplit(response["Location"])
    assert checkout.path.startswith("/sandbox/checkout/")
    back = parse_qs(checkout.query)["return"][0]
    assert back == f"http://testserver{page_url(order)}?payment=paid"
    assert response["Referrer-Policy"] == "same-origin"

    # The sandbox provider's page: Pay.
    paid = client.post(f"{checkout.path}?{checkout.query}", {"outcome": "paid"})
    assert paid.status_code == 302 and paid["Location"] == back

    html = client.get(back).content.decode()
    assert "Thank you for your payment." in html
    assert ('booking', 'done') in re.findall(r'data-stage="([a-z]+)" data-status="([a-z]+)"', html)
    assert ('measuring', 'current') in re.findall(r'data-stage="([a-z]+)" data-status="([a-z]+)"', html)
    assert "Measuring on site is ready: book a visit." in html
    assert 'data-testid="paid-total">CN¥1,200.00<' in html
    assert 'data-testid="due-total">CN¥0.00<' in html
    assert 'aria-valuenow="20"' in html


def test_the_page_shows_what_was_paid_net_of_refunds_as_the_api_does(client, client_for, order, consumer,
                                                                     store_manager):
    """It summed the installments in a paid state: a goodwill refund of part of the deposit did not show."""
    from payments.models import Installment, Payment
    from payments.services import installment_pay, payment_refund, sandbox_checkout_complete

    deposit = installment_pay(installment=Installment.objects.get(order=order, stage__definition__code="booking"),
                              actor=consumer).payment
    sandbox_checkout_complete(payment=deposit, outcome="paid")
    payment_refund(payment=Payment.objects.get(pk=deposit.pk), amount=Decimal("200.00"), actor=store_manager,
                   reason="goodwill")
    html = client.get(page_url(order)).content.decode()
    assert 'data-testid="paid-total">CN¥1,000.00<' in html
    assert client_for(consumer).get(f"/api/v1/orders/{order.pk}/").json()["money"]["net_paid"] == "1000.00"


def test_paying_twice_reuses_the_open_payment(client, order):
    action = _pay_form_action(client.get(page_url(order)).content.decode())
    first = client.post(action)["Location"]
    second = client.post(action)["Location"]
    assert urlsplit(first).path == urlsplit(second).path


def test_an_installment_of_another_order_is_not_found(client, order, store, consumer2):
    from payments.models import Installment

    other = make_order(store=store, consumer=consumer2)
    foreign = Installment.objects.filter(order=other).first()
    response = client.post(f"/track/{services.tracking_token(order)}/pay/{foreign.pk}/")
    assert response.status_code == 404


def test_an_installment_not_due_yet_is_refused_with_a_readable_page(client, order):
    from payments.models import Installment

    later = Installment.objects.filter(order=order, state="scheduled").first()
    response = client.post(f"/track/{services.tracking_token(order)}/pay/{later.pk}/")
    assert response.status_code == 409
    assert "only a due installment can be paid" in response.content.decode()


def test_pay_needs_a_post_and_a_valid_link(client, order):
    from payments.models import Installment

    inst = Installment.objects.filter(order=order).first()
    assert client.get(f"/track/{services.tracking_token(order)}/pay/{inst.pk}/").status_code == 405
    assert client.post(f"/track/bad-token/pay/{inst.pk}/").status_code == 404


def test_the_voucher_is_shown_with_its_qr_code_once_the_visit_is_open(client, order):
    from payments.models import Installment

    action = _pay_form_action(client.get(page_url(order)).content.decode())
    checkout = urlsplit(client.post(action)["Location"])
    client.post(f"{checkout.path}?{checkout.query}", {"outcome": "paid"})
    html = client.get(page_url(order)).content.decode()
    assert 'data-testid="voucher"' in html
    assert "<svg" in html and 'aria-label="QR code of the e-voucher for Measuring on site"' in html
    # a full QR code (21 or 25 modules, not a 17-module Micro QR code), its 4-module quiet zone, 5 px a module
    assert re.search(r'<svg viewBox="0 0 (145|165) \1"', html)
    assert re.search(r'class="code">[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-.</p>', html)
    assert Installment.objects.get(order=order, stage__definition__code="booking").amount == Decimal("1200.00")


def test_the_order_detail_api_carries_the_tracking_link(client_for, order, consumer, client):
    response = client_for(consumer).get(f"/api/v1/orders/{order.pk}/")
    assert response.status_code == 200
    url = response.json()["tracking_url"]
    assert url == f"http://testserver/track/{services.tracking_token(order)}/"
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("cached", [False, True], ids=["built", "from-the-cache"])
@pytest.mark.parametrize("who", ["store_manager", "merchant_admin", "technician", "operator"])
def test_only_the_consumer_gets_the_tracking_link(client_for, order, consumer, request, who, cached, settings):
    """The page needs no login and shows the consumer's voucher codes and QR: whoever else may read the order's
    detail (staff, the technician on its visit, operators) must not get a link to it, or they could redeem a
    voucher the consumer never showed them."""
    from payments.models import Installment
    from payments.services import installment_pay, sandbox_checkout_complete
    from tests.factories.vouchers import book_visit

    settings.ORDER_DETAIL_CACHE_SECONDS = 60 if cached else 0
    deposit = installment_pay(installment=Installment.objects.get(order=order, stage__definition__code="booking"),
                              actor=consumer).payment
    sandbox_checkout_complete(payment=deposit, outcome="paid")  # the measuring voucher is issued
    book_visit(ServiceOrder.objects.get(pk=order.pk), code="measuring")  # the technician is on the visit
    staff = client_for(request.getfixturevalue(who))
    mine = client_for(consumer)
    for _ in range(2 if cached else 1):  # the second read comes from the cache
        other = staff.get(f"/api/v1/orders/{order.pk}/")
        assert other.status_code == 200, other.content
        assert other.json()["tracking_url"] is None
        assert all("code" not in v for v in other.json()["vouchers"])
        assert mine.get(f"/api/v1/orders/{order.pk}/").json()["tracking_url"] == (
            f"http://testserver/track/{services.tracking_token(order)}/")

