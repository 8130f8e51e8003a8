"""On-site rework (issue 21, point 6): rejecting on-site work reopens the stage for a revisit that the consumer
(or the store) books like the first visit, with the same e-voucher, the round counted like other rework."""

import pytest

from tests.factories.vouchers import check_in, code_of, voucher_of
from tests.factories.workflows import make_order, stage_of
from tests.fieldwork.helpers import complete_body, job_url
from vouchers.models import Voucher
from workflows import services
from workflows.models import Appointment, OrderEvent, ServiceOrder, StageInstance

pytestmark = pytest.mark.django_db

INSTALL_WITH_APPROVAL = {
    "name": "Installation the consumer accepts",
    "stages": [
        {"code": "install", "name": "Installation on site", "requires_appointment": True, "appointment_minutes": 60,
         "requires_voucher": True, "voucher_valid_days": 30, "requires_approval": True, "max_rework_rounds": 1},
    ],
}


def book(client, order, stage):
    slots = client.get(f"/api/v1/orders/{order.pk}/slots/?stage={stage.pk}")
    assert slots.status_code == 200 and slots.json(), slots.content
    return client.post(f"/api/v1/orders/{order.pk}/appointments/",
                       {"stage": stage.pk, "window_start": slots.json()[0]["start"]}, format="json")


def visit_and_submit(client_for, order, appointment_id, *, redeem: bool):
    visit = Appointment.objects.select_related("technician", "order").get(pk=appointment_id)
    check_in(visit)
    tech = client_for(visit.technician)
    if redeem:
        redeemed = tech.post("/api/v1/vouchers/redeem/", {"code": code_of(voucher_of(order, "install")),
                                                          "job": visit.pk}, format="json")
        assert redeemed.status_code == 200, redeemed.content
    done = tech.post(job_url(visit, "complete"), complete_body(), format="json")
    assert done.status_code in (200, 201), done.content


@pytest.fixture
def order(store, consumer, technician):
    return make_order(store=store, consumer=consumer, definition=INSTALL_WITH_APPROVAL)


def test_a_rejected_installation_is_rebooked_and_accepted(client_for, order, consumer):
    me = client_for(consumer)
    stage = stage_of(order, "install")
    first = book(me, order, stage)
    assert first.status_code == 201, first.content
    visit_and_submit(client_for, order, first.json()["id"], redeem=True)
    assert ServiceOrder.objects.get(pk=order.pk).state == "install:awaiting_approval"

    rejected = me.post(f"/api/v1/stages/{stage.pk}/reject/", {"reason": "Doors not aligned"}, format="json")
    assert rejected.status_code == 200, rejected.content
    order.refresh_from_db()
    stage.refresh_from_db()
    assert order.state == "install:ready" and stage.state == StageInstance.State.READY
    assert stage.rework_rounds == 1
    event = OrderEvent.objects.filter(order=order, kind="stage.reject").get()
    assert (event.from_state, event.to_state) == ("install:awaiting_approval", "install:ready")

    revisit = book(me, order, stage)  # was a 409: the stage stayed in_progress
    assert revisit.status_code == 201, revisit.content
    assert revisit.json()["id"] != first.json()["id"]
    assert Appointment.objects.get(pk=first.json()["id"]).state == Appointment.State.CHECKED_IN  # kept as a record
    # The same e-voucher: redeemed at the first visit, it still entitles the revisit (no second one issued).
    assert Voucher.objects.filter(order=order).count() == 1
    assert voucher_of(order, "install").state == Voucher.State.REDEEMED

    visit_and_submit(client_for, order, revisit.json()["id"], redeem=False)
    assert me.post(f"/api/v1/stages/{stage.pk}/approve/", format="json").status_code == 200
    order.refresh_from_db()
    assert order.state == "completed"


def test_the_revisit_must_be_checked_in_before_the_work_is_submitted_again(client_for, order, consumer):
    me = client_for(consumer)
    stage = stage_of(order, "install")
    first = book(me, order, stage).json()
    visit_and_submit(client_for, order, first["id"], redeem=True)
    me.post(f"/api/v1/stages/{stage.pk}/reject/", {"reason": "Scratched"}, format="json")
    revisit = Appointment.objects.get(pk=book(me, order, stage).json()["id"])
    # Completing on the old, checked-out visit is no way round the revisit.
    old = client_for(revisit.technician).post(job_url(first["id"], "complete"), complete_body(), format="json")
    assert old.status_code == 409
    assert ServiceOrder.objects.get(pk=order.pk).state == "install:scheduled"


def test_beyond_the_rework_limit_the_store_resumes_it_and_the_revisit_is_booked(client_for, order, consumer,
                                                                                 store_manager):
    me = client_for(consumer)
    stage = stage_of(order, "install")
    visit_and_submit(client_for, order, book(me, order, stage).json()["id"], redeem=True)
    me.post(f"/api/v1/stages/{stage.pk}/reject/", {"reason": "Round 1"}, format="json")
    visit_and_submit(client_for, order, book(me, order, stage).json()["id"], redeem=False)
    assert me.post(f"/api/v1/stages/{stage.pk}/reject/", {"reason": "Round 2"}, format="json").status_code == 200
    order.refresh_from_db()
    assert order.state == "install:escalated"
    refused = book(me, order, stage)
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_transition"
    resumed = client_for(store_manager).post(f"/api/v1/stages/{stage.pk}/resume/", {"note": "We come again"},
                                             format="json")
    assert resumed.status_code == 200, resumed.content
    order.refresh_from_db()
    assert order.state == "install:ready"
    assert book(me, order, stage).status_code == 201


def test_off_site_rework_still_goes_back_to_work(client_for, store, consumer, store_manager):
    order = make_order(store=store, consumer=consumer, definition={
        "name": "Design", "stages": [{"code": "design", "name": "Design", "requires_approval": True,
                                      "max_rework_rounds": 2}]})
    stage = stage_of(order, "design")
    services.stage_complete(stage=stage, actor=store_manager)
    order.refresh_from_db()
    assert order.state == "design:awaiting_approval"
    assert client_for(consumer).post(f"/api/v1/stages/{stage.pk}/reject/", {"reason": "Too dark"},
                                     format="json").status_code == 200
    order.refresh_from_db()
    assert order.state == "design:in_progress"
    assert stage_of(order, "design").rework_rounds == 1
