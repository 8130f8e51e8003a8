"""The claim a killed delivery leaves behind: only the same run (same task id and retry number),
redelivered by the broker, may resume a row stuck in "sending"; any other run leaves it alone."""

from __future__ import annotations

import pytest

from notifications import services
from notifications.models import Notification
from notifications.services import delivery
from tests.factories.notifications import PLAIN_VISIT_WORKFLOW, NotificationFactory
from tests.factories.workflows import make_order
from tests.notifications.sms_backends import RecordingSMSBackend

pytestmark = pytest.mark.django_db
State = Notification.State


@pytest.fixture
def notification(settings, store, consumer):
    settings.SMS_BACKEND = "tests.notifications.sms_backends.RecordingSMSBackend"
    RecordingSMSBackend.sent, RecordingSMSBackend.references = [], []
    order = make_order(store=store, consumer=consumer, definition=PLAIN_VISIT_WORKFLOW)
    return NotificationFactory(order=order, channel=Notification.Channel.SMS, body="resume me")


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing after it runs, no handler catches it."""


def _killed_after_send(n: Notification, token: str, monkeypatch) -> None:
    """A run whose channel accepted the message and whose worker died before the outcome was written."""
    def die(*args, **kwargs):
        raise WorkerKilled

    with monkeypatch.context() as m:
        m.setattr(delivery, "_finish", die)
        with pytest.raises(WorkerKilled):
            services.notification_deliver(notification_id=n.pk, claim_token=token)
    n.refresh_from_db()
    assert n.state == State.SENDING


def test_a_message_sent_again_after_a_kill_carries_the_same_sms_reference(notification, monkeypatch):
    """The one window left for a double send (the channel call): both sends carry one client reference,
    which a provider deduplicating on it drops; another notification gets another reference."""
    _killed_after_send(notification, "task-1:0", monkeypatch)
    assert services.notification_deliver(notification_id=notification.pk, claim_token="task-1:0") == "sent"
    other = NotificationFactory(order=notification.order, channel=Notification.Channel.SMS)
    assert services.notification_deliver(notification_id=other.pk) == "sent"
    first, again, another = RecordingSMSBackend.references
    assert first == again != another
    assert str(notification.pk) in first


def test_an_email_sent_again_after_a_kill_has_the_same_message_id(notification, settings, mailoutbox, monkeypatch):
    settings.DEFAULT_FROM_EMAIL = "Lumen <service@lumen.example>"
    Notification.objects.filter(pk=notification.pk).update(channel=Notification.Channel.EMAIL,
                                                           to_address="zhang@example.com")
    _killed_after_send(notification, "task-1:0", monkeypatch)
    assert services.notification_deliver(notification_id=notification.pk, claim_token="task-1:0") == "sent"
    first, again = (m.extra_headers["Message-ID"] for m in mailoutbox)
    assert first == again and first.endswith("@lumen.example>")
    assert "Message-ID: " + first in mailoutbox[1].message().as_string()


def _killed_after_claim(n: Notification, token: str) -> None:
    """What a worker killed between the claim and the send leaves behind."""
    claimed = Notification.objects.filter(pk=n.pk, state=State.PENDING).update(
        state=State.SENDING, attempts=1, claimed_by=token)
    assert claimed == 1


def test_the_redelivered_run_resumes_its_claim_and_sends_once(notification):
    _killed_after_claim(notification, "task-1:0")
    assert services.notification_deliver(notification_id=notification.pk, claim_token="task-1:0") == "sent"
    # A further redelivery of that run finds the row sent.
    assert services.notification_deliver(notification_id=notification.pk, claim_token="task-1:0") == "not_claimed"
    notification.refresh_from_db()
    assert (notification.state, notification.attempts) == (State.SENT, 2)
    assert RecordingSMSBackend.sent == [(notification.to_address, "resume me")]


@pytest.mark.parametrize("token", ["task-2:0", "task-1:1", ""])
def test_another_run_does_not_take_a_row_being_sent(notification, token):
    _killed_after_claim(notification, "task-1:0")
    assert services.notification_deliver(notification_id=notification.pk, claim_token=token) == "not_claimed"
    notification.refresh_from_db()
    assert notification.state == State.SENDING and RecordingSMSBackend.sent == []


def test_the_task_claims_with_its_id_and_retry_number(notification):
    from notifications.tasks import deliver_notification

    result = deliver_notification.apply(args=[notification.pk], task_id="fixed-id")
    assert result.get() == "sent"
    notification.refresh_from_db()
    assert notification.claimed_by == "fixed-id:0"
