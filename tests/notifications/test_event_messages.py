"""Each order event makes the right message for the right person, in the event's own transaction."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from core import display
from notifications import services
from notifications.models import Notification
from notifications.services import outbox
from tests.factories.notifications import PLAIN_VISIT_WORKFLOW, emit
from tests.factories.workflows import make_order, stage_of
from workflows import services as wf

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]
Channel, State = Notification.Channel, Notification.State


@pytest.fixture
def order(store, consumer, store_manager):
    return make_order(store=store, consumer=consumer, definition=PLAIN_VISIT_WORKFLOW)


def rows_for(event):
    return {(n.recipient_id, n.channel, n.kind): n for n in Notification.objects.filter(event=event)}


def test_order_created_sends_the_consumer_the_tracking_link_by_email_and_sms(order, consumer):
    rows = Notification.objects.filter(order=order, kind="order.created")
    assert {(n.recipient_id, n.channel) for n in rows} == {(consumer.pk, Channel.EMAIL), (consumer.pk, Channel.SMS)}
    sms = rows.get(channel=Channel.SMS)
    assert sms.to_address == consumer.phone
    assert f"/track/{services.tracking_token(order)}/" in sms.body
    assert rows.get(channel=Channel.EMAIL).to_address == consumer.email


CONSUMER_CASES = [
    # (event kind, trigger, from, to, payload, expected message kind, words in the body)
    ("stage.book", "book", "visit:ready", "visit:scheduled",
     {"window_start": "2030-03-04T02:00:00+00:00"}, "appointment.booked", ["Measuring visit", "Mon, Mar 4, 10:00 AM"]),
    ("stage.reschedule", "reschedule", "visit:scheduled", "visit:scheduled",
     {"from": "2030-03-04T02:00:00+00:00", "to": "2030-03-05T06:00:00+00:00"}, "appointment.moved",
     ["moved", "Tue, Mar 5, 2:00 PM"]),
    ("job.checked_in", "", "", "", {}, "technician.arrived", ["checked in", "Measuring visit"]),
    ("installment.due", "", "", "", {"amount": "1200.00", "currency": "CNY"}, "installment.due",
     ["CN¥1,200.00", "due"]),
    ("payment.captured", "", "", "", {"amount": "1200.00"}, "payment.received", ["CN¥1,200.00"]),
    ("voucher.issued", "", "", "", {"valid_until": "2030-06-01T00:00:00+00:00"}, "voucher.issued",
     ["e-voucher", "QR"]),
    ("voucher.expiring", "", "", "", {"valid_until": "2030-06-01T00:00:00+00:00"}, "voucher.expiring",
     ["expires", "Jun 1"]),
    ("stage.complete", "complete", "design:in_progress", "design:awaiting_approval", {}, "approval.requested",
     ["approve"]),
    ("stage.approve", "approve", "design:awaiting_approval", "completed", {}, "order.completed", ["complete"]),
]


@pytest.mark.parametrize("kind, trigger, from_state, to_state, payload, message, words", CONSUMER_CASES)
def test_consumer_event_makes_a_message_for_the_consumer_only(order, consumer, store_manager, kind, trigger,
                                                              from_state, to_state, payload, message, words):
    stage = stage_of(order, "design" if "design" in from_state else "visit")
    event = emit(order, kind, stage=stage, trigger=trigger, from_state=from_state, to_state=to_state,
                 payload=payload)
    rows = rows_for(event)
    assert set(rows) == {(consumer.pk, Channel.EMAIL, message), (consumer.pk, Channel.SMS, message)}
    for word in words:
        assert word in rows[(consumer.pk, Channel.SMS, message)].body
    assert all(n.state == State.PENDING and n.order_id == order.pk for n in rows.values())


def test_a_yen_order_is_told_its_amounts_in_whole_yen(store, consumer):
    order = make_order(store=store, consumer=consumer, total=Decimal("120000"), currency="JPY")

    due = Notification.objects.get(order=order, kind="installment.due", channel=Channel.SMS)

    assert "¥12,000 is due" in due.body and ".00" not in due.body


@pytest.mark.parametrize("amount, shown", [("5000.00", "₩5,000"), ("5000", "₩5,000")])
def test_won_amounts_are_told_without_decimals_however_stored(order, amount, shown):
    # PostgreSQL's numeric(14,2) gives "5000.00" for an amount of 5000 won
    event = emit(order, "installment.due", stage=stage_of(order, "visit"),
                 payload={"amount": amount, "currency": "KRW"})

    sms = Notification.objects.get(event=event, channel=Channel.SMS)

    assert f"{shown} is due" in sms.body


def test_technician_check_in_names_the_technician(order, consumer, technician):
    event = emit(order, "job.checked_in", actor=technician, stage=stage_of(order, "visit"))
    sms = Notification.objects.get(event=event, channel=Channel.SMS)
    assert technician.first_name in sms.body


def test_no_show_tells_the_consumer_and_the_store_manager_by_email(order, consumer, store_manager):
    event = emit(order, "job.no_show", stage=stage_of(order, "visit"))
    assert set(rows_for(event)) == {
        (consumer.pk, Channel.EMAIL, "visit.missed"), (consumer.pk, Channel.SMS, "visit.missed"),
        (store_manager.pk, Channel.EMAIL, "visit.no_show"),
    }


def test_sla_breach_and_escalation_go_to_the_store_managers_of_the_order_store_only(
        order, store_manager, other_store_manager, merchant, store2):
    from tests.factories import StoreManagerFactory

    manager_of_store2 = StoreManagerFactory(stores=[store2])
    sla = emit(order, "sla.stage_overdue", stage=stage_of(order, "visit"), payload={"kind": "stage_overdue"})
    escalation = emit(order, "stage.reject", trigger="reject", stage=stage_of(order, "design"),
                      from_state="design:awaiting_approval", to_state="design:escalated",
                      payload={"reason": "too dark"})
    assert set(rows_for(sla)) == {(store_manager.pk, Channel.EMAIL, "sla.breached")}
    assert set(rows_for(escalation)) == {(store_manager.pk, Channel.EMAIL, "stage.escalated")}
    assert "too dark" in Notification.objects.get(event=escalation).body
    assert "the stage is overdue" in Notification.objects.get(event=sla).body
    assert not Notification.objects.filter(recipient__in=[other_store_manager, manager_of_store2]).exists()


def test_cancellation_by_the_consumer_also_tells_the_store(order, consumer, store_manager):
    wf.order_cancel(order=order, actor=consumer, reason="moving house")
    rows = Notification.objects.filter(order=order, event__kind="stage.cancel")
    assert {(n.recipient_id, n.kind) for n in rows} == {
        (consumer.pk, "order.cancelled"), (store_manager.pk, "order.cancelled_by_consumer"),
    }
    assert all("moving house" in n.body for n in rows)


def test_cancellation_by_the_store_tells_only_the_consumer(order, consumer, store_manager):
    wf.order_cancel(order=order, actor=store_manager, reason="out of stock")
    rows = Notification.objects.filter(order=order, event__kind="stage.cancel")
    assert {(n.recipient_id, n.kind) for n in rows} == {(consumer.pk, "order.cancelled")}


@pytest.mark.parametrize("kind", ["job.checklist_updated", "tracking.link_revoked", "job.evidence_added"])
def test_events_nobody_needs_to_hear_about_make_no_message(order, kind, django_assert_num_queries):
    event = emit(order, kind)
    assert not Notification.objects.filter(event=event).exists()
    # The listener asks the database nothing for such events.
    with django_assert_num_queries(0):
        assert services.on_order_event(event) == []


def test_booking_through_the_service_notifies_the_consumer_with_the_visit_time(order, consumer, technician):
    stage = stage_of(order, "visit")
    slot = wf.appointment_slots(stage=stage)[0]
    wf.appointment_book(stage=stage, window_start=slot.start, actor=consumer)
    sms = Notification.objects.get(order=order, kind="appointment.booked", channel=Channel.SMS)
    assert display.when(slot.start, tz=order.store.tzinfo).replace("\u202f", " ") in sms.body


def test_the_rows_commit_or_roll_back_with_their_event(order, consumer):
    before = Notification.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        emit(order, "voucher.issued", stage=stage_of(order, "visit"))
        assert Notification.objects.count() == before + 2
        raise RuntimeError("the service failed after the event")
    assert Notification.objects.count() == before


def test_one_event_never_makes_the_same_message_twice(order, consumer):
    event = emit(order, "voucher.issued", stage=stage_of(order, "visit"))
    assert Notification.objects.filter(event=event).count() == 2
    with pytest.raises(IntegrityError), transaction.atomic():
        services.on_order_event(event)
    assert Notification.objects.filter(event=event).count() == 2


def test_delivery_is_queued_only_after_the_commit(order, consumer, django_capture_on_commit_callbacks, mailoutbox):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        event = emit(order, "voucher.issued", stage=stage_of(order, "visit"))
    assert len(mailoutbox) == 0  # nothing went out inside the transaction
    assert Notification.objects.filter(event=event, state=State.PENDING).count() == 2
    for callback in callbacks:
        callback()
    assert Notification.objects.filter(event=event, state=State.SENT).count() == 2
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [consumer.email]


# --- preferences ---------------------------------------------------------------------------------


def test_a_channel_turned_off_is_recorded_as_skipped_and_never_sent(order, consumer, mailoutbox,
                                                                    django_capture_on_commit_callbacks):
    services.notification_preference_set(user=consumer, sms=False)
    with django_capture_on_commit_callbacks(execute=True):
        event = emit(order, "voucher.issued", stage=stage_of(order, "visit"))
    sms = Notification.objects.get(event=event, channel=Channel.SMS)
    assert sms.state == State.SKIPPED and sms.attempts == 0 and "turned off" in sms.last_error
    assert Notification.objects.get(event=event, channel=Channel.EMAIL).state == State.SENT
    assert services.notification_deliver(notification_id=sms.pk) == "not_claimed"
    assert Notification.objects.get(pk=sms.pk).state == State.SKIPPED


def test_email_turned_off(order, consumer, mailoutbox, django_capture_on_commit_callbacks):
    services.notification_preference_set(user=consumer, email=False)
    with django_capture_on_commit_callbacks(execute=True):
        event = emit(order, "voucher.issued", stage=stage_of(order, "visit"))
    assert Notification.objects.get(event=event, channel=Channel.EMAIL).state == State.SKIPPED
    assert Notification.objects.get(event=event, channel=Channel.SMS).state == State.SENT
    assert mailoutbox == []


@pytest.mark.parametrize("has_preferences", [True, False])
def test_preferences_read_with_the_engines_lock_are_honoured(store, consumer, has_preferences):
    """Through the engine the consumer's preferences come with the order's lock: the same outcome as a read."""
    from tests.factories.workflows import linear_stages
    from workflows.engine import fire

    order = make_order(store=store, consumer=consumer, definition=linear_stages(2, requires_approval=True))
    if has_preferences:
        services.notification_preference_set(user=consumer, email=False)
    fire(order_id=order.pk, trigger="start")
    event = fire(order_id=order.pk, trigger="complete").event
    rows = dict(Notification.objects.filter(event=event, kind="approval.requested").values_list("channel", "state"))
    assert rows == {Channel.EMAIL: State.SKIPPED if has_preferences else State.PENDING, Channel.SMS: State.PENDING}


def test_sms_in_quiet_hours_waits_for_their_end(order, consumer, monkeypatch):
    from datetime import datetime, time

    services.notification_preference_set(user=consumer, quiet_hours_start=time(22, 0), quiet_hours_end=time(8, 0))
    tz = order.store.tzinfo
    late_evening = datetime(2030, 3, 4, 23, 30, tzinfo=tz)
    monkeypatch.setattr(timezone, "now", lambda: late_evening)
    event = emit(order, "voucher.issued", stage=stage_of(order, "visit"))
    sms = Notification.objects.get(event=event, channel=Channel.SMS)
    email = Notification.objects.get(event=event, channel=Channel.EMAIL)
    assert sms.deliver_after == datetime(2030, 3, 5, 8, 0, tzinfo=tz)
    assert email.deliver_after == late_evening  # email wakes nobody
    # Not due yet: a delivery run leaves it alone.
    assert services.notification_deliver(notification_id=sms.pk) == "not_claimed"
    monkeypatch.setattr(timezone, "now", lambda: datetime(2030, 3, 5, 8, 0, 1, tzinfo=tz))
    assert services.notification_deliver(notification_id=sms.pk) == "sent"


@pytest.mark.parametrize("local_now, expected_end", [
    ("23:30", "next 08:00"), ("03:00", "same 08:00"), ("12:00", None), ("08:00", None), ("21:59", None),
])
def test_quiet_hours_spanning_midnight(local_now, expected_end, consumer):
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    from notifications.models import NotificationPreference

    tz = ZoneInfo("Asia/Shanghai")
    pref = NotificationPreference(user=consumer, quiet_hours_start=time(22, 0), quiet_hours_end=time(8, 0))
    hh, mm = map(int, local_now.split(":"))
    now = datetime(2030, 3, 4, hh, mm, tzinfo=tz)
    end = outbox._quiet_until(pref, now, tz)
    if expected_end is None:
        assert end is None
    else:
        day = now.date() + timedelta(days=1 if expected_end.startswith("next") else 0)
        assert end == datetime(day.year, day.month, day.day, 8, 0, tzinfo=tz)


def test_a_consumer_without_a_phone_gets_email_only(store, merchant):
    from tests.factories import ConsumerFactory

    no_phone = ConsumerFactory(phone=None)
    order = make_order(store=store, consumer=no_phone, definition=PLAIN_VISIT_WORKFLOW)
    assert set(Notification.objects.filter(order=order).values_list("channel", flat=True)) == {Channel.EMAIL}
