"""Delivery: sent once whatever happens, retried with backoff on outside failures, outcome recorded;
the outbox relay picks up what nobody queued; reminders come once per visit."""

import logging
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError

from notifications import services, tasks
from notifications.conf import setting
from notifications.models import Notification
from tests.factories.notifications import PLAIN_VISIT_WORKFLOW, NotificationFactory
from tests.factories.workflows import make_order, stage_of
from tests.notifications import sms_backends
from workflows.models import Appointment

pytestmark = pytest.mark.django_db
Channel, State = Notification.Channel, Notification.State


@pytest.fixture
def order(store, consumer):
    order = make_order(store=store, consumer=consumer, definition=PLAIN_VISIT_WORKFLOW)
    Notification.objects.filter(order=order).delete()  # start from an empty outbox
    return order


@pytest.fixture
def eager_retries():
    """Let eager Celery run a task's retries in place (with eager propagation on, the first Retry
    would be raised to the caller instead; a real worker schedules it after the countdown)."""
    conf = tasks.deliver_notification.app.conf
    saved = conf.task_eager_propagates
    conf.task_eager_propagates = False
    yield
    conf.task_eager_propagates = saved


@pytest.fixture
def recording_sms(settings):
    settings.SMS_BACKEND = "tests.notifications.sms_backends.RecordingSMSBackend"
    sms_backends.RecordingSMSBackend.sent = []
    return sms_backends.RecordingSMSBackend


def test_email_goes_out_once_and_the_outcome_is_recorded(order, consumer, mailoutbox):
    n = NotificationFactory(order=order, channel=Channel.EMAIL, subject="Your visit", body="Tomorrow 10:00")
    assert tasks.deliver_notification.delay(n.pk).get() == "sent"
    n.refresh_from_db()
    assert (n.state, n.attempts, n.last_error) == (State.SENT, 1, "")
    assert n.sent_at is not None
    assert len(mailoutbox) == 1
    assert (mailoutbox[0].subject, mailoutbox[0].body, mailoutbox[0].to) == ("Your visit", "Tomorrow 10:00",
                                                                             [consumer.email])


def test_a_duplicate_task_run_sends_once(order, recording_sms):
    n = NotificationFactory(order=order)
    results = [tasks.deliver_notification.delay(n.pk).get() for _ in range(3)]
    assert results == ["sent", "not_claimed", "not_claimed"]
    assert len(recording_sms.sent) == 1
    n.refresh_from_db()
    assert (n.state, n.attempts, n.provider_ref) == (State.SENT, 1, "rec-1")


def test_a_run_that_finds_the_row_being_sent_does_nothing(order, recording_sms):
    n = NotificationFactory(order=order)
    Notification.objects.filter(pk=n.pk).update(state=State.SENDING, claimed_at=timezone.now())
    assert services.notification_deliver(notification_id=n.pk) == "not_claimed"
    assert recording_sms.sent == []


def test_a_missing_row_is_not_an_error(order):
    assert services.notification_deliver(notification_id=987654) == "not_claimed"


def test_the_logging_sms_backend_logs_only_the_last_four_digits(order, consumer, caplog, settings):
    settings.SMS_BACKEND = "notifications.sms.LoggingSMSBackend"
    n = NotificationFactory(order=order, body="Your technician has arrived")
    with caplog.at_level(logging.INFO, logger="notifications.sms"):
        assert services.notification_deliver(notification_id=n.pk) == "sent"
    text = caplog.text
    assert consumer.phone[-4:] in text and "Your technician has arrived" in text
    assert consumer.phone not in text and consumer.phone[-8:] not in text


def test_a_failing_backend_is_retried_with_backoff_then_the_failure_is_recorded(order, settings, eager_retries):
    settings.SMS_BACKEND = "tests.notifications.sms_backends.FailingSMSBackend"
    sms_backends.FailingSMSBackend.calls = 0
    n = NotificationFactory(order=order)
    # Eager Celery runs the retries at once (their countdown is for a real worker).
    with mock.patch.object(tasks.deliver_notification, "retry", wraps=tasks.deliver_notification.retry) as retry:
        assert tasks.deliver_notification.delay(n.pk).get() == "failed"
    attempts = setting("NOTIFICATION_MAX_ATTEMPTS")
    assert sms_backends.FailingSMSBackend.calls == attempts
    assert retry.call_count == attempts - 1
    n.refresh_from_db()
    assert (n.state, n.attempts, n.sent_at) == (State.FAILED, attempts, None)
    assert "provider timeout" in n.last_error and "gave up" in n.last_error


def test_the_task_declares_late_acks_exponential_backoff_and_a_retry_limit():
    task = tasks.deliver_notification
    assert task.acks_late is True
    assert task.autoretry_for == (services.DeliveryError,)
    assert task.retry_backoff == setting("NOTIFICATION_RETRY_BACKOFF_SECONDS") and task.retry_jitter is False
    assert task.max_retries == setting("NOTIFICATION_MAX_ATTEMPTS") - 1
    assert [services.retry_backoff_seconds(a) for a in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert services.retry_backoff_seconds(50) == setting("NOTIFICATION_RETRY_BACKOFF_MAX_SECONDS")


def test_a_failed_attempt_leaves_the_row_pending_with_its_retry_time(order, settings):
    settings.SMS_BACKEND = "tests.notifications.sms_backends.FailingSMSBackend"
    n = NotificationFactory(order=order)
    before = timezone.now()
    with pytest.raises(services.DeliveryError):
        services.notification_deliver(notification_id=n.pk)
    n.refresh_from_db()
    assert (n.state, n.attempts) == (State.PENDING, 1)
    assert before + timedelta(seconds=29) < n.next_attempt_at < timezone.now() + timedelta(seconds=31)
    # The relay leaves a row whose retry is scheduled alone (it takes it only if the retry is lost).
    assert services.notifications_relay(now=timezone.now() + timedelta(seconds=60)) == 0


def test_a_flaky_backend_delivers_on_a_later_attempt(order, settings, eager_retries):
    settings.SMS_BACKEND = "tests.notifications.sms_backends.FlakySMSBackend"
    sms_backends.FlakySMSBackend.calls = 0
    n = NotificationFactory(order=order)
    assert tasks.deliver_notification.delay(n.pk).get() == "sent"
    n.refresh_from_db()
    assert (n.state, n.attempts, n.provider_ref, n.last_error) == (State.SENT, 3, "flaky-ok", "")


def test_a_rejected_message_fails_at_once_without_retries(order, settings):
    settings.SMS_BACKEND = "tests.notifications.sms_backends.RejectingSMSBackend"
    sms_backends.RejectingSMSBackend.calls = 0
    n = NotificationFactory(order=order)
    assert tasks.deliver_notification.delay(n.pk).get() == "failed"
    n.refresh_from_db()
    assert (n.state, n.attempts, sms_backends.RejectingSMSBackend.calls) == (State.FAILED, 1, 1)
    assert "invalid number" in n.last_error


def test_an_smtp_outage_is_retried(order, settings):
    import smtplib

    n = NotificationFactory(order=order, channel=Channel.EMAIL)
    outage = mock.patch("django.core.mail.EmailMessage.send", side_effect=smtplib.SMTPServerDisconnected("gone"))
    with outage, pytest.raises(services.DeliveryError):
        services.notification_deliver(notification_id=n.pk)
    n.refresh_from_db()
    assert n.state == State.PENDING and "SMTPServerDisconnected" in n.last_error


# --- outbox relay --------------------------------------------------------------------------------


def test_the_relay_sends_pending_rows_nobody_queued(order, recording_sms):
    old = NotificationFactory(order=order, created_at=timezone.now() - timedelta(minutes=2),
                              deliver_after=timezone.now() - timedelta(minutes=2))
    fresh = NotificationFactory(order=order)  # its own on_commit task is still on the way
    assert services.notifications_relay() == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.state == State.SENT and fresh.state == State.PENDING
    assert len(recording_sms.sent) == 1
    # Nothing left to relay; a second run sends nothing more.
    assert tasks.relay_pending_notifications.delay().get() == 0
    assert len(recording_sms.sent) == 1


def test_a_broker_outage_leaves_the_row_pending_for_the_relay(order, consumer, recording_sms, caplog,
                                                              django_capture_on_commit_callbacks):
    from tests.factories.notifications import emit

    broker_down = mock.patch.object(tasks.deliver_notification, "delay",
                                    side_effect=OperationalError("Error 111 connecting to 127.0.0.1:6379"))
    with broker_down, caplog.at_level(logging.WARNING, logger="notifications"), \
            django_capture_on_commit_callbacks(execute=True):
        event = emit(order, "voucher.issued", stage=stage_of(order, "visit"))
    rows = Notification.objects.filter(event=event)
    assert rows.count() == 2 and all(n.state == State.PENDING for n in rows)
    assert "could not queue delivery" in caplog.text
    # A minute later the broker is back; the relay delivers them.
    assert services.notifications_relay(now=timezone.now() + timedelta(seconds=61)) == 2
    assert set(rows.values_list("state", flat=True)) == {State.SENT}
    assert len(recording_sms.sent) == 1


def test_the_relay_closes_rows_lost_mid_send_without_sending_again(order, recording_sms):
    lost = NotificationFactory(order=order)
    Notification.objects.filter(pk=lost.pk).update(
        state=State.SENDING, attempts=1, claimed_at=timezone.now() - timedelta(minutes=20))
    services.notifications_relay()
    lost.refresh_from_db()
    assert lost.state == State.FAILED and "outcome unknown" in lost.last_error
    assert recording_sms.sent == []


def test_staff_can_send_a_failed_notification_again(order, recording_sms, django_capture_on_commit_callbacks):
    n = NotificationFactory(order=order, state=State.FAILED, attempts=5, last_error="provider timeout")
    with django_capture_on_commit_callbacks(execute=True):
        assert services.notification_retry(notification=n) is True
    n.refresh_from_db()
    assert (n.state, n.attempts) == (State.SENT, 1)
    assert services.notification_retry(notification=n) is False  # only failed rows


# --- visit reminders -----------------------------------------------------------------------------


def _visit(order, *, starts_in: timedelta, booked_ago: timedelta = timedelta(days=3), technician=None):
    now = timezone.now()
    stage = stage_of(order, "visit")
    appt = Appointment.objects.create(order=order, stage=stage, store=order.store, technician=technician,
                                      window_start=now + starts_in, window_end=now + starts_in + timedelta(hours=1))
    Appointment.objects.filter(pk=appt.pk).update(created_at=now - booked_ago)
    return appt


@pytest.mark.usefixtures("english")
def test_a_reminder_is_made_24_hours_before_the_visit_once(order, consumer, recording_sms,
                                                           django_capture_on_commit_callbacks):
    appt = _visit(order, starts_in=timedelta(hours=23))
    seven_hours_ago = timezone.now() - timedelta(hours=7)  # the visit was then 30 h away: too early
    assert services.visit_reminders_create(now=seven_hours_ago) == 0
    with django_capture_on_commit_callbacks(execute=True):
        made = services.visit_reminders_create()
    later = timezone.now()
    assert made == 2
    rows = Notification.objects.filter(appointment=appt, kind="appointment.reminder")
    assert {(n.recipient_id, n.channel) for n in rows} == {(consumer.pk, Channel.EMAIL), (consumer.pk, Channel.SMS)}
    assert "Reminder" in rows.get(channel=Channel.SMS).body and "Measuring visit" in rows.get(channel=Channel.SMS).body
    assert services.visit_reminders_create(now=later) == 0
    assert services.visit_reminders_create(now=later + timedelta(hours=1)) == 0
    assert rows.count() == 2
    assert len(recording_sms.sent) == 1


def test_no_reminder_for_a_visit_booked_within_the_last_day_or_cancelled(order):
    _visit(order, starts_in=timedelta(hours=5), booked_ago=timedelta(hours=1))
    cancelled = _visit(order, starts_in=timedelta(hours=6))
    cancelled.mark_cancelled()
    cancelled.save()
    _visit(order, starts_in=-timedelta(hours=1))  # already past
    assert services.visit_reminders_create() == 0
    assert not Notification.objects.filter(kind="appointment.reminder").exists()


def test_two_overlapping_reminder_runs_make_one_reminder(order):
    from django.db.models import QuerySet

    appt = _visit(order, starts_in=timedelta(hours=20))
    assert tasks.send_visit_reminders.delay().get() == 2
    # A second run that did not see the first run's rows (a race) is stopped by the unique constraint.
    with mock.patch.object(QuerySet, "exclude", lambda self, *args, **kwargs: self):
        assert services.visit_reminders_create() == 0
    assert Notification.objects.filter(appointment=appt).count() == 2
