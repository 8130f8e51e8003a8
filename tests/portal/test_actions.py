"""Acting from the page: approve, reject with a reason, book and move a visit, through the same services and
policy as the API; only with a device session for this order (403 `verify_first` otherwise), and CSRF-checked."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from notifications.services import tracking_link_revoke
from tests.factories import ConsumerFactory
from tests.factories.workflows import make_order, stage_of
from tests.portal.conftest import last_code, make_design_order, url, verify
from workflows import services
from workflows.models import Appointment, OrderEvent

pytestmark = pytest.mark.django_db


def approve_url(order):
    return url(order, f"stages/{stage_of(order, 'design').pk}/approve/")


def reject_url(order):
    return url(order, f"stages/{stage_of(order, 'design').pk}/reject/")


def code_of(response) -> str:
    found = re.search(r'data-code="([a-z_]*)"', response.content.decode())
    return found.group(1) if found else ""


def test_approving_needs_the_code_then_goes_through_the_engine(client, design_order, consumer, sms):
    refused = client.post(approve_url(design_order))
    assert (refused.status_code, code_of(refused)) == (403, "verify_first")
    assert stage_of(design_order, "design").state == "awaiting_approval"
    verify(client, design_order, sms)
    page = client.get(url(design_order)).content.decode()
    assert 'data-testid="approve"' in page and 'data-testid="reject"' in page
    response = client.post(approve_url(design_order))
    assert response.status_code == 302 and "done=approved" in response["Location"]
    assert stage_of(design_order, "design").state == "done"
    event = OrderEvent.objects.get(order=design_order, kind="stage.approve")
    assert (event.actor_id, event.actor_role) == (consumer.pk, "consumer")
    # Approving twice is the engine's 409, shown on the page.
    again = client.post(approve_url(design_order))
    assert (again.status_code, code_of(again)) == (409, "invalid_transition")


def test_rejecting_needs_a_reason(client, design_order, sms):
    verify(client, design_order, sms)
    blank = client.post(reject_url(design_order), {"reason": "   "})
    assert (blank.status_code, code_of(blank)) == (400, "invalid")
    assert stage_of(design_order, "design").state == "awaiting_approval"
    assert client.post(reject_url(design_order), {"reason": "Doors in white, please"}).status_code == 302
    design = stage_of(design_order, "design")
    assert design.rework_rounds == 1 and design.state != "awaiting_approval"
    assert OrderEvent.objects.get(order=design_order, kind="stage.reject").payload == {
        "reason": "Doors in white, please"}


def test_the_session_of_another_order_cannot_act(client, design_order, store, store_manager, sms):
    other = make_design_order(store=store, consumer=ConsumerFactory(), manager=store_manager)
    verify(client, other, sms)
    # The other order's cookie, sent under this order's name too, opens nothing here.
    client.cookies[f"portal_{design_order.pk}"] = client.cookies[f"portal_{other.pk}"].value
    refused = client.post(approve_url(design_order))
    assert (refused.status_code, code_of(refused)) == (403, "verify_first")
    # Nor can this order's stage be reached through the other order's link.
    wrong = client.post(url(other, f"stages/{stage_of(design_order, 'design').pk}/approve/"))
    assert wrong.status_code == 404
    assert stage_of(design_order, "design").state == "awaiting_approval"


def test_a_revoked_link_and_a_logout_end_the_devices_session(client, design_order, store_manager, sms):
    verify(client, design_order, sms)
    assert client.post(url(design_order, "logout/")).status_code == 302
    assert client.post(approve_url(design_order)).status_code == 403
    verify(client, design_order, sms)
    old_approve = approve_url(design_order)
    tracking_link_revoke(order=design_order, actor=store_manager)
    design_order.refresh_from_db()
    assert client.post(old_approve).status_code == 404  # the old link itself is gone
    refused = client.post(approve_url(design_order))  # the new link, but the session named the old one
    assert (refused.status_code, code_of(refused)) == (403, "verify_first")


def test_every_form_is_csrf_protected(design_order, sms):
    browser = Client(enforce_csrf_checks=True)
    assert browser.post(url(design_order, "code/")).status_code == 403
    assert not sms.sent
    page = browser.get(url(design_order)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert browser.post(url(design_order, "code/"), {"csrfmiddlewaretoken": token}).status_code == 302
    assert len(sms.sent) == 1


def test_a_wrong_code_says_so_and_five_lock_it(client, design_order, sms):
    assert client.post(url(design_order, "code/")).status_code == 302
    code = last_code(sms)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    answers = [client.post(url(design_order, "verify/"), {"code": wrong}) for _ in range(5)]
    assert [(r.status_code, code_of(r)) for r in answers] == [(400, "code_wrong")] * 4 + [(429, "code_locked")]
    locked = client.post(url(design_order, "verify/"), {"code": code})
    assert (locked.status_code, code_of(locked)) == (429, "code_locked")
    assert f"portal_{design_order.pk}" not in client.cookies


VISIT_FLOW = {"name": "Measure", "stages": [{"code": "measure", "name": "Measure", "requires_appointment": True}]}


@pytest.fixture
def visit_order(store, consumer, store_manager, technician, technician2):
    return make_order(store=store, consumer=consumer, definition=VISIT_FLOW, actor=store_manager)


def slot_values(html: str) -> list[str]:
    return re.findall(r'name="window_start" value="([^"]+)"', html)


def test_book_a_visit_from_the_offered_times_then_move_it(client, visit_order, consumer, sms,
                                                          django_assert_max_num_queries):
    stage = stage_of(visit_order, "measure")
    assert slot_values(client.get(url(visit_order)).content.decode()) == []  # no times before the code
    verify(client, visit_order, sms)
    with django_assert_max_num_queries(16):  # the page's reads, and the slots: the store's technicians and visits
        html = client.get(url(visit_order)).content.decode()
    offered = slot_values(html)
    assert 1 <= len(offered) <= 12
    assert len(html.encode()) < 150 * 1024  # a slow phone's budget before images
    response = client.post(url(visit_order, f"stages/{stage.pk}/book/"), {"window_start": offered[1]})
    assert response.status_code == 302 and "done=booked" in response["Location"]
    booked = Appointment.objects.get(order=visit_order)
    assert booked.booked_by_id == consumer.pk and stage_of(visit_order, "measure").state == "scheduled"
    moves = slot_values(client.get(url(visit_order)).content.decode())
    target = next(v for v in moves if v != offered[1])
    response = client.post(url(visit_order, f"visits/{booked.pk}/move/"), {"window_start": target})
    assert response.status_code == 302 and "done=moved" in response["Location"]
    new = Appointment.objects.filter(order=visit_order).exclude(pk=booked.pk).get()
    assert new.reschedule_count == 1 and new.window_start.isoformat() != booked.window_start.isoformat()
    assert OrderEvent.objects.filter(order=visit_order, kind="stage.reschedule").count() == 1


def test_a_time_that_was_not_offered_is_refused(client, visit_order, sms):
    verify(client, visit_order, sms)
    stage = stage_of(visit_order, "measure")
    for bad in ("", "tomorrow", "2020-01-01T09:00:00+08:00", "2099-01-01T09:07:00"):
        response = client.post(url(visit_order, f"stages/{stage.pk}/book/"), {"window_start": bad})
        assert 400 <= response.status_code < 500, bad
    assert not Appointment.objects.filter(order=visit_order).exists()


def test_a_visit_of_another_order_cannot_be_moved(client, visit_order, store, store_manager, consumer, sms):
    other = make_order(store=store, consumer=ConsumerFactory(), definition=VISIT_FLOW, actor=store_manager)
    stage = stage_of(other, "measure")
    theirs = services.appointment_book(stage=stage, window_start=services.appointment_slots(stage=stage)[0].start,
                                       actor=other.consumer)
    verify(client, visit_order, sms)
    response = client.post(url(visit_order, f"visits/{theirs.pk}/move/"), {"window_start": "2099-01-01T09:00:00Z"})
    assert response.status_code == 404
