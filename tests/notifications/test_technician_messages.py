"""A technician hears by SMS, through the outbox and in their own language, when a visit is given to them (at
booking, by staff), moved, taken off them or cancelled (with its order)."""

from datetime import timedelta

import pytest

from core import display
from notifications.models import Notification
from notifications.services import delivery_reference
from notifications.sms import segments
from tests.factories.notifications import PLAIN_VISIT_WORKFLOW
from tests.factories.workflows import make_order, stage_of
from tests.notifications import sms_backends
from workflows import services as wf
from workflows.models import Appointment

pytestmark = pytest.mark.django_db
Channel, State = Notification.Channel, Notification.State
ADDRESS = "上海市静安区南京西路1266号恒隆广场办公楼一座2501室"


@pytest.fixture
def recording_sms(settings):
    settings.SMS_BACKEND = "tests.notifications.sms_backends.RecordingSMSBackend"
    sms_backends.RecordingSMSBackend.sent = []
    sms_backends.RecordingSMSBackend.references = []
    return sms_backends.RecordingSMSBackend


@pytest.fixture
def order(store, consumer, technician, store_manager):
    order = make_order(store=store, consumer=consumer, definition=PLAIN_VISIT_WORKFLOW)
    order.service_address = ADDRESS
    order.save(update_fields=["service_address"])
    return order


def _book(order, consumer, slot=0) -> Appointment:
    stage = stage_of(order, "visit")
    return wf.appointment_book(stage=stage, window_start=wf.appointment_slots(stage=stage)[slot].start,
                               actor=consumer)


def _assigned(order, consumer, technician2, store_manager):
    return _book(order, consumer)


def _moved(order, consumer, technician2, store_manager):
    appointment = _book(order, consumer)
    stage = stage_of(order, "visit")
    later = next(s.start for s in wf.appointment_slots(stage=stage) if s.start > appointment.window_end)
    return wf.appointment_reschedule(appointment=appointment, window_start=later, actor=store_manager)


def _cancelled(order, consumer, technician2, store_manager):
    appointment = _book(order, consumer)
    wf.order_cancel(order=order, actor=store_manager, reason="顾客要求")
    return Appointment.objects.get(pk=appointment.pk)


# (what happens, the message kind, its words in Chinese, in English)
CASES = [
    (_assigned, "job.assigned", ["新的上门服务", "地址"], ["New job for you", "Measuring visit"]),
    (_moved, "job.moved", ["已改约到"], ["has moved to"]),
    (_cancelled, "job.cancelled", ["已取消", "无需前往"], ["is cancelled", "need not go"]),
]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("happen, kind, chinese, english", CASES, ids=[c[1] for c in CASES])
def test_the_technician_is_told_by_sms_in_their_language(order, consumer, technician, technician2, store_manager,
                                                         recording_sms, django_capture_on_commit_callbacks,
                                                         language, happen, kind, chinese, english):
    technician.language = "" if language == "zh-hans" else language  # no choice of their own: Chinese
    technician.save(update_fields=["language"])
    with django_capture_on_commit_callbacks(execute=True):
        appointment = happen(order, consumer, technician2, store_manager)

    row = Notification.objects.get(recipient=technician, kind=kind)
    assert (row.channel, row.to_address, row.state) == (Channel.SMS, technician.phone, State.SENT)
    words = chinese if language == "zh-hans" else english
    window = display.window(appointment.window_start, appointment.window_end, tz=order.store.tzinfo,
                            language=language).replace("\u202f", " ")
    for word in [*words, order.number, window, ADDRESS[:12]]:
        assert word in row.body, (word, row.body)
    # No consumer secrets: not their name, phone, the tracking link, a voucher code.
    for secret in [consumer.phone, consumer.first_name, consumer.last_name, "/track/"]:
        assert not secret or (secret not in row.body and secret not in str(row.params))
    if language == "zh-hans":
        assert segments(row.body) <= 2
    # Through the outbox, with the notification's own reference, as every SMS.
    assert (technician.phone, row.body) in recording_sms.sent
    assert delivery_reference(row) in recording_sms.references
    # The technician is told by SMS only; the consumer still hears their own message.
    assert not Notification.objects.filter(recipient=technician).exclude(channel=Channel.SMS).exists()


@pytest.mark.parametrize("language, words", [("zh-hans", ["已改派给其他师傅", "新的上门服务"]),
                                             ("en", ["given to another technician", "New job for you"])])
def test_reassigning_tells_both_technicians(order, consumer, technician, technician2, store_manager, language,
                                            words):
    technician.language = technician2.language = "" if language == "zh-hans" else language
    technician.save(update_fields=["language"])
    technician2.save(update_fields=["language"])
    appointment = _book(order, consumer)
    assert appointment.technician_id == technician.pk

    wf.appointment_assign(appointment=appointment, technician=technician2, actor=store_manager)

    event = order.events.get(kind="appointment.assigned")
    taken_off = Notification.objects.get(event=event, recipient=technician)
    given = Notification.objects.get(event=event, recipient=technician2)
    assert (taken_off.kind, taken_off.channel) == ("job.unassigned", Channel.SMS)
    assert (given.kind, given.channel) == ("job.assigned", Channel.SMS)
    assert words[0] in taken_off.body and words[1] in given.body
    assert order.number in taken_off.body and order.number in given.body
    # Nobody else hears of it: not the consumer, not the store.
    assert set(Notification.objects.filter(event=event).values_list("recipient_id", flat=True)) == {
        technician.pk, technician2.pk}


def test_a_visit_moved_to_another_technician_tells_both(order, consumer, technician, technician2, store_manager):
    first = _book(order, consumer)
    # technician is busy at the new time with another order's visit: the move goes to technician2, and the
    # technician it was taken off is told of their old window
    stage = stage_of(order, "visit")
    later = next(s for s in wf.appointment_slots(stage=stage) if s.start > first.window_end)
    other = make_order(store=order.store, consumer=consumer, definition=PLAIN_VISIT_WORKFLOW)
    busy = wf.appointment_book(stage=stage_of(other, "visit"), window_start=later.start, actor=consumer)
    assert busy.technician_id == technician.pk

    moved = wf.appointment_reschedule(appointment=first, window_start=later.start, actor=store_manager)

    assert moved.technician_id == technician2.pk
    event = order.events.get(kind="stage.reschedule")
    assert {(n.recipient_id, n.kind) for n in Notification.objects.filter(event=event)} >= {
        (technician.pk, "job.unassigned"), (technician2.pk, "job.assigned")}
    old_window = display.when(first.window_start, tz=order.store.tzinfo).replace("\u202f", " ")
    assert old_window in Notification.objects.get(event=event, recipient=technician).body


def test_reassigning_to_the_same_technician_tells_nobody(order, consumer, technician, store_manager):
    appointment = _book(order, consumer)
    wf.appointment_assign(appointment=appointment, technician=technician, actor=store_manager)
    assert not Notification.objects.filter(event__kind="appointment.assigned").exists()


def test_a_technician_who_left_the_store_is_not_told(order, consumer, technician, technician2, store_manager):
    appointment = _book(order, consumer)
    technician.stores.clear()
    wf.appointment_assign(appointment=appointment, technician=technician2, actor=store_manager)
    assert not Notification.objects.filter(recipient=technician, kind="job.unassigned").exists()


def test_quiet_hours_hold_a_technicians_sms_too(order, consumer, technician, store_manager):
    from notifications import services

    now = order.created_at.astimezone(order.store.tzinfo)
    start = (now - timedelta(hours=1)).time().replace(microsecond=0)
    end = (now + timedelta(hours=2)).time().replace(microsecond=0)
    services.notification_preference_set(user=technician, quiet_hours_start=start, quiet_hours_end=end)
    _book(order, consumer)
    row = Notification.objects.get(recipient=technician, kind="job.assigned")
    assert row.deliver_after > row.created_at
