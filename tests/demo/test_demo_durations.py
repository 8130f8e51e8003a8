"""The demo's finished stages took believable times (acted out on demo.clock), and its event chains are intact."""

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from demo.clock import HistoryClock
from fieldwork.models import CheckIn
from insights.selectors import platform_metrics
from notifications.models import Notification
from tenancy.models import Store
from workflows.models import OrderEvent

HOUR, DAY = 3600, 86400


@pytest.mark.django_db
def test_demo_stages_take_real_times_on_an_intact_chain(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    call_command("load_demo", stdout=StringIO())
    ops = get_user_model().objects.get(username="ops")
    durations = {d["stage_code"]: d for d in platform_metrics(user=ops)["stage_durations"]}
    avg = {code: d["avg_seconds"] for code, d in durations.items()}
    # Measuring: booked, visited and checked out the same day; design: delivered after two working days and
    # approved the next; installation: paid the next morning and installed (that day or the next).
    assert 1 * HOUR <= avg["measuring"] <= 8 * HOUR, avg
    assert 2 * DAY <= avg["design"] <= 6 * DAY, avg
    assert 4 * HOUR <= avg["installation"] <= 4 * DAY, avg
    assert all(d["p50_seconds"] > 0 for d in durations.values()), durations
    # Design waited on the consumer (approval, payment) for part of its time: the store's own time is the rest.
    assert 0 < durations["design"]["avg_waiting_seconds"] < avg["design"]
    assert durations["booking"]["avg_work_seconds"] < 60 < durations["booking"]["avg_waiting_seconds"]

    # The visits of finished stages were checked into on time, within the store's hours and days.
    now = timezone.now()
    past = CheckIn.objects.filter(appointment__stage__state="done").select_related("appointment__order__store")
    assert past.count() >= 8
    for checkin in past:
        store = checkin.appointment.order.store
        local = timezone.localtime(checkin.recorded_at, store.tzinfo)
        assert checkin.recorded_at <= now
        assert checkin.appointment.window_start <= checkin.recorded_at < checkin.appointment.window_end
        assert local.weekday() in store.working_days and store.opens_at <= local.time() <= store.closes_at
    # Each order's events are in time order, none later than now, and the chain verifies.
    for order_id in OrderEvent.objects.values_list("order_id", flat=True).distinct():
        times = list(OrderEvent.objects.filter(order_id=order_id).order_by("seq").values_list("created_at", flat=True))
        assert times == sorted(times) and times[-1] <= now
    # The messages of those steps are dated in the past too (the outbox stamps them with timezone.now()).
    assert Notification.objects.filter(created_at__lt=now - timedelta(days=1)).exists()
    assert not Notification.objects.filter(created_at__gt=now).exists()
    out = StringIO()
    call_command("verify_event_chain", stdout=out)
    assert "intact" in out.getvalue()


def test_the_history_clock_keeps_to_store_hours_and_never_passes_the_real_now():
    store = Store(timezone="Asia/Shanghai")  # 09:00-18:00, Monday to Saturday
    clock = HistoryClock(store, working_days_ago=2)

    def local():
        return timezone.localtime(clock.now(), store.tzinfo)

    start, today = local(), timezone.localdate(timezone.now(), store.tzinfo)
    assert (start.hour, start.minute) == (9, 30) and start.weekday() in store.working_days and start.date() < today
    clock.advance(minutes=8 * 60 + 10)  # 17:40, in the last half hour: the next working day at 10:00
    after = local()
    assert (after.hour, after.minute) == (10, 0) and after.date() > start.date()
    assert after.weekday() in store.working_days
    with clock.applied():
        assert abs(timezone.now() - clock.now()) < timedelta(seconds=1)
    assert timezone.now() - clock.now() > timedelta(hours=12)  # the patch ends with the block

    # A visit not yet past is not reached: the clock stops at the real now (the demo then moves the visit to now).
    assert not clock.reach(timezone.now() + timedelta(hours=1))
    assert abs(timezone.now() - clock.now()) < timedelta(seconds=1)
    clock.advance(working_days=5)
    assert clock.now() <= timezone.now()
