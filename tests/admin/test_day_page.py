"""The store's day: today's and tomorrow's visits by technician, and the orders waiting on the store, each a
link to its order page; only the viewer's stores."""

import pytest
from django.urls import reverse

from tests.admin.conftest import web
from tests.factories import StoreManagerFactory
from tests.factories.workflows import make_order

pytestmark = pytest.mark.django_db
DAY = reverse("admin:workflows_order_day")


def section(html: str, testid: str) -> str:
    start = html.index(f'data-testid="{testid}"')
    return html[start:html.index("</section>", start)]


def test_the_day_lists_visits_by_technician_and_what_waits_on_the_store(manager_web, visit, design_order,
                                                                        escalated_order, technician, store,
                                                                        consumer, store_manager):
    ready = make_order(store=store, consumer=consumer, actor=store_manager,
                       definition={"name": "Visit only", "stages": [
                           {"code": "visit", "name": "Visit", "requires_appointment": True}]})
    html = manager_web.get(DAY).content.decode()
    visits = section(html, "visits-today") + section(html, "visits-tomorrow")
    assert technician.display_name in visits and visit.order.number in visits
    assert reverse("admin:workflows_serviceorder_change", args=[visit.order_id]) in visits
    assert design_order.number in section(html, "to_deliver")
    assert escalated_order.number in section(html, "escalated")
    assert escalated_order.number not in section(html, "to_deliver")
    assert ready.number in section(html, "to_book")
    assert design_order.number in section(html, "sla_at_risk")  # a 24-hour SLA, just started


def test_low_ratings_wait_on_the_store_for_two_weeks(manager_web, store, consumer, store_manager, technician,
                                                     merchant_admin, other_store_manager, time_machine):
    """A rating of 1-2 stars, for the order or for a visit's technician, is listed with its stars and comment;
    a good one is not; after PORTAL_LOW_RATING_DAYS it leaves the list; another brand's manager never sees it."""
    from datetime import timedelta

    from django.utils import timezone

    from portal.services import ratings
    from tests.factories.fieldwork import make_job
    from tests.portal.conftest import ONE_STEP
    from workflows.models import Appointment

    def done(score, visit_score=None):
        order = make_order(store=store, consumer=consumer, definition=ONE_STEP, actor=store_manager)
        job = make_job(order=order, code="visit", technician=technician,
                       window_start=timezone.now() - timedelta(hours=3))
        Appointment.objects.filter(pk=job.pk).update(state=Appointment.State.CHECKED_OUT)
        ratings.rating_give(order=order, score=score, comment=f"{score} stars",
                            visits={job.pk: visit_score} if visit_score else None)
        return order

    low, low_visit, good = done(2), done(5, visit_score=1), done(5, visit_score=4)
    listed = section(manager_web.get(DAY).content.decode(), "low_ratings")
    assert low.number in listed and low_visit.number in listed and good.number not in listed
    assert "2 星（满分 5 星）：2 stars" in listed and "1 星（满分 5 星）：5 stars" in listed
    assert reverse("admin:workflows_serviceorder_change", args=[low.pk]) in listed
    assert low.number not in web(other_store_manager).get(DAY).content.decode()
    time_machine.move_to(timezone.now() + timedelta(days=15))
    assert low.number not in section(web(store_manager).get(DAY).content.decode(), "low_ratings")


def test_the_day_costs_a_fixed_number_of_queries(manager_web, visit, design_order, escalated_order,
                                                 django_assert_max_num_queries):
    with django_assert_max_num_queries(14):  # 12, and one per list other apps add (low ratings, price revisions)
        assert manager_web.get(DAY).status_code == 200


def test_only_the_viewer_stores(visit, store, store2, other_store_manager, merchant_admin):
    other_manager = StoreManagerFactory(username="a_manager2", stores=[store2])
    assert web(other_manager).get(DAY, {"store": store.pk}).status_code == 404
    assert visit.order.number not in web(other_manager).get(DAY).content.decode()
    assert web(other_store_manager).get(DAY, {"store": store.pk}).status_code == 404
    # the merchant's admin picks any of its stores
    html = web(merchant_admin).get(DAY, {"store": store.pk}).content.decode()
    assert visit.order.number in html


def test_the_admin_index_links_the_day(manager_web):
    assert DAY in manager_web.get(reverse("admin:index")).content.decode()


def test_accounts_that_are_not_staff_go_to_the_login(technician, consumer):
    for user in (technician, consumer):
        response = web(user).get(DAY)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_price_revisions_waiting_or_declined_are_on_the_day(manager_web, store, consumer, store_manager,
                                                           other_store_manager):
    """An open revision (waiting for the consumer) and a declined one (to talk over) are listed with the new total;
    an accepted one is not; another brand's manager never sees them."""
    from decimal import Decimal

    from payments.services.revisions import revision_accept, revision_decline, revision_propose

    def propose(order, total="13000.00"):
        return revision_propose(order=order, actor=store_manager, total_amount=total, reason="measured",
                                lines=[{"description": "Extra shelf", "amount": str(Decimal(total) - 12000)}])

    waiting, declined, accepted = (make_order(store=store, consumer=consumer, actor=store_manager) for _ in range(3))
    propose(waiting)
    revision_decline(revision=propose(declined), actor=consumer)
    revision_accept(revision=propose(accepted, "12500.00"), actor=consumer)
    listed = section(manager_web.get(DAY).content.decode(), "price_revisions")
    assert waiting.number in listed and declined.number in listed and accepted.number not in listed
    assert "增减项（新总价 ¥13,000.00）待消费者确认" in listed and "增减项（新总价 ¥13,000.00）已被消费者拒绝" in listed
    assert waiting.number not in web(other_store_manager).get(DAY).content.decode()
