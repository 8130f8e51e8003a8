"""The day's last place (issue 21, point 2), through the real HTTP stack on PostgreSQL: 32 consumers book visits
needing `install` on a day with one place left, at the same instant, each its own order and window, with
technicians free for all of them. Only the store's capacity stops them: exactly one 201, 31 clean 409s
`capacity_full`, and the day holds its capacity, never more (see test_http_races.py for the harness)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from tenancy.models import StoreCapacity
from tests.concurrency.test_http_races import Call, fire_together, statuses, token_header
from tests.factories import ConsumerFactory
from tests.factories.tenancy import TechnicianFactory
from tests.factories.workflows import make_order, make_template, stage_of
from workflows import services as workflow_services
from workflows.models import Appointment, OrderEvent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

INSTALL = {
    "name": "Installation",
    "stages": [{"code": "install", "name": "Install", "requires_appointment": True, "appointment_minutes": 60,
                "required_skill": "install"}],
}
CAPACITY = 3


def test_32_consumers_booking_the_days_last_place_get_one_201(live_server, store):
    for _ in range(4):
        TechnicianFactory(stores=[store], skills=["install"])
    StoreCapacity.objects.create(store=store, skill="install", visits_per_day=CAPACITY)
    store.travel_buffer_minutes = 30
    store.save()
    template = make_template(merchant=store.merchant, stores=[store], definition=INSTALL)
    day = timezone.now().astimezone(store.tzinfo).date() + timedelta(days=1)
    while day.weekday() not in store.working_days:
        day += timedelta(days=1)
    hours = [datetime(day.year, day.month, day.day, h, tzinfo=store.tzinfo) for h in range(9, 18)]

    def install_stage():
        return stage_of(make_order(store=store, consumer=ConsumerFactory(), template=template), "install")

    for when in hours[:CAPACITY - 1]:  # all places but the last are taken
        stage = install_stage()
        workflow_services.appointment_book(stage=stage, window_start=when, actor=stage.order.consumer)
    stages = [install_stage() for _ in range(32)]
    open_hours = hours[CAPACITY - 1:]
    assert {s.start for s in workflow_services.appointment_slots(stage=stages[0])} >= set(open_hours)

    calls = [
        Call(f"/api/v1/orders/{stage.order_id}/appointments/",
             {"stage": stage.pk, "window_start": open_hours[i % len(open_hours)].isoformat()},
             token_header(stage.order.consumer))
        for i, stage in enumerate(stages)
    ]
    replies = fire_together(live_server, calls)
    counts = statuses(replies)
    assert counts == {(201, None): 1, (409, "capacity_full"): 31}, counts

    that_day = Appointment.objects.filter(store=store, window_start__gte=hours[0], window_start__lt=hours[-1]
                                          + timedelta(hours=1)).exclude(state=Appointment.State.CANCELLED)
    assert that_day.count() == CAPACITY
    winner = next(i for i, r in enumerate(replies) if r.status == 201)
    assert that_day.filter(order_id=stages[winner].order_id).count() == 1
    assert OrderEvent.objects.filter(kind="stage.book").count() == CAPACITY
    assert day not in {s.start.astimezone(store.tzinfo).date()
                       for s in workflow_services.appointment_slots(stage=stages[(winner + 1) % 32])}
