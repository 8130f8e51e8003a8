"""China's SMS channel: the Alibaba Cloud (Dysms) backend through its official SDK, against a local server on
loopback that checks the request's ACS3 signature (made with an AccessKey made here) and answers as Dysms does."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from notifications import services, tasks
from notifications.messages import ROUTES
from notifications.models import Notification
from notifications.sms import SMSDeliveryError, SMSRejected
from notifications.sms_aliyun import AliyunSMSBackend, check_settings, required_kinds
from tests.factories.notifications import PLAIN_VISIT_WORKFLOW, NotificationFactory
from tests.factories.workflows import make_order
from tests.notifications.dysms_server import KEY_ID, KEY_SECRET, FakeDysms
from workflows.models import OrderEvent

pytestmark = pytest.mark.django_db
State = Notification.State
def templates() -> dict:
    return {kind: {"code": f"SMS_{100 + i}", "params": {"order": "n", "url": "link"}}
            for i, kind in enumerate(required_kinds())}


def all_templates() -> dict:
    return {**templates(), "test.message": {"code": "SMS_900", "params": {"order": "n"}}}


@pytest.fixture
def dysms(settings):
    fake = FakeDysms()
    settings.SMS_BACKEND = "notifications.sms_aliyun.AliyunSMSBackend"
    settings.ALIYUN_SMS = {"ACCESS_KEY_ID": KEY_ID, "ACCESS_KEY_SECRET": KEY_SECRET, "SIGN_NAME": "服务通",
                           "ENDPOINT": fake.endpoint, "PROTOCOL": "http", "TIMEOUT_SECONDS": 5,
                           "TEMPLATES": all_templates()}
    yield fake
    fake.close()


@pytest.fixture
def order(store, consumer):
    order = make_order(store=store, consumer=consumer, definition=PLAIN_VISIT_WORKFLOW)
    Notification.objects.filter(order=order).delete()
    return order


@pytest.fixture
def eager_retries():
    conf = tasks.deliver_notification.app.conf
    saved = conf.task_eager_propagates
    conf.task_eager_propagates = False
    yield
    conf.task_eager_propagates = saved


def test_a_message_goes_out_as_its_template_signed_with_the_access_key(dysms, order, consumer):
    n = NotificationFactory(order=order, kind="test.message", params={"n": order.number, "link": "x"})
    assert tasks.deliver_notification.delay(n.pk).get() == "sent"
    n.refresh_from_db()
    assert (n.state, n.attempts, n.last_error) == (State.SENT, 1, "")
    assert n.provider_ref == "dysms:900001^0"
    [req] = dysms.requests
    assert req["signed"] is True and req["action"] == "SendSms"
    assert req["params"] == {
        "PhoneNumbers": consumer.phone, "SignName": "服务通", "TemplateCode": "SMS_900",
        "TemplateParam": json.dumps({"order": order.number}, ensure_ascii=False),
        "OutId": services.delivery_reference(n),
    }


def test_an_outbox_message_carries_its_variables_to_the_template(dysms, store, consumer):
    order = make_order(store=store, consumer=consumer, definition=PLAIN_VISIT_WORKFLOW)
    sms = Notification.objects.get(order=order, kind="order.created", channel=Notification.Channel.SMS)
    assert sms.params["n"] == order.number and sms.params["link"]
    assert services.notification_deliver(notification_id=sms.pk) == "sent"
    template = json.loads(dysms.requests[-1]["params"]["TemplateParam"])
    assert template == {"order": order.number, "url": sms.params["link"]}
    assert dysms.requests[-1]["params"]["TemplateCode"] == templates()["order.created"]["code"]


def test_a_throttled_message_is_retried_with_back_off_and_sent_once(dysms, order, eager_retries):
    dysms.codes = ["isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL"]
    n = NotificationFactory(order=order, kind="test.message")
    assert tasks.deliver_notification.delay(n.pk).get() == "sent"
    n.refresh_from_db()
    assert (n.state, n.attempts, n.last_error) == (State.SENT, 3, "")
    assert len(dysms.requests) == 3
    # Every attempt carries the notification's one reference, so Dysms can drop a duplicate.
    assert {r["params"]["OutId"] for r in dysms.requests} == {services.delivery_reference(n)}


def test_a_throttled_attempt_leaves_the_row_pending_with_its_retry_time(dysms, order):
    dysms.codes = ["isv.BUSINESS_LIMIT_CONTROL"]
    n = NotificationFactory(order=order, kind="test.message")
    with pytest.raises(services.DeliveryError):
        services.notification_deliver(notification_id=n.pk)
    n.refresh_from_db()
    assert (n.state, n.attempts) == (State.PENDING, 1)
    assert n.next_attempt_at is not None and "isv.BUSINESS_LIMIT_CONTROL" in n.last_error


@pytest.mark.parametrize("code", ["isv.MOBILE_NUMBER_ILLEGAL", "isv.SMS_TEMPLATE_ILLEGAL",
                                  "isv.TEMPLATE_MISSING_PARAMETERS", "isv.SMS_SIGNATURE_ILLEGAL"])
def test_a_bad_number_or_template_fails_for_good_and_the_store_is_told(dysms, order, code, eager_retries,
                                                                       store_manager):
    dysms.codes = [code]
    n = NotificationFactory(order=order, kind="test.message")
    assert tasks.deliver_notification.delay(n.pk).get() == "failed"
    n.refresh_from_db()
    assert (n.state, n.attempts, n.next_attempt_at) == (State.FAILED, 1, None)
    assert code in n.last_error
    assert len(dysms.requests) == 1  # never retried
    event = OrderEvent.objects.get(order=order, kind="notification.undeliverable")
    assert event.payload["notification"] == n.pk and code in event.payload["reason"]
    told = Notification.objects.filter(order=order, kind="notification.undeliverable")
    assert [(t.recipient_id, t.channel) for t in told] == [(store_manager.pk, Notification.Channel.EMAIL)]
    assert ROUTES["notification.undeliverable"]


def test_an_unreachable_service_is_retried(dysms, order):
    dysms.close()
    n = NotificationFactory(order=order, kind="test.message")
    with pytest.raises(services.DeliveryError):
        services.notification_deliver(notification_id=n.pk)
    n.refresh_from_db()
    assert n.state == State.PENDING


def test_a_bad_signature_is_refused_and_not_retried(dysms, settings):
    settings.ALIYUN_SMS = {**settings.ALIYUN_SMS, "ACCESS_KEY_SECRET": "not-the-secret"}
    with pytest.raises(SMSRejected, match="IncompleteSignature"):
        AliyunSMSBackend().send("+8613800000001", "x", reference="r-1", kind="test.message", params={})
    assert dysms.requests[0]["signed"] is False


def test_a_throttle_is_a_delivery_error_and_a_kind_without_template_a_rejection(dysms):
    dysms.codes = ["isv.MINUTE_LIMIT_CONTROL"]
    with pytest.raises(SMSDeliveryError):
        AliyunSMSBackend().send("+8613800000001", "x", reference="r-2", kind="test.message", params={})
    with pytest.raises(SMSRejected):
        AliyunSMSBackend().send("+8613800000001", "x", reference="r-3", kind="no.such.kind", params={})


def test_settings_are_checked_at_start_naming_the_missing_kind(dysms, settings):
    assert check_settings() == []
    tpl = templates()
    del tpl["order.created"]
    settings.ALIYUN_SMS = {**settings.ALIYUN_SMS, "TEMPLATES": tpl, "SIGN_NAME": ""}
    problems = [e.msg for e in check_settings()]
    assert any("'order.created'" in p for p in problems) and any("'SIGN_NAME'" in p for p in problems)
    assert len(problems) == 2
    with pytest.raises(SystemCheckError, match="order.created"):
        call_command("check")
    with pytest.raises(ValueError, match="order.created"):
        AliyunSMSBackend()


def test_the_log_backend_stays_the_default(settings):
    del settings.SMS_BACKEND
    assert check_settings() == []
    from notifications.sms import LoggingSMSBackend, get_sms_backend

    assert type(get_sms_backend()) is LoggingSMSBackend
