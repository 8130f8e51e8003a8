"""The claim a killed delivery leaves behind: only the same run (same task id and retry number),
redelivered by the broker, may resume a row stuck in "sending"; any other run leaves it alone."""

from __future__ import annotations

import pytest

from notifications import services
from notifications.models import Notification
from tests.factories.notifications import PLAIN_VISIT_WORKFLOW, NotificationFactory
from tests.factories.workflows import make_order
from tests.notifications.sms_backends import RecordingSMSBackend

pytestmark = pytest.mark.django_db
State = Notification.State


@pytest.fixture
def notification(settings, store, consumer):
    settings.SMS_BACKEND = "tests.notifications.sms_backends.RecordingSMSBackend"
    RecordingSMSBackend.sent = []
    order = make_order(store=store, consumer=consumer, definition=PLAIN_VISIT_WORKFLOW)
    return NotificationFactory(order=order, channel=Notification.Channel.SMS, body="resume me")


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
