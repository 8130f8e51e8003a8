"""Messages are data: a routing table says who hears of which event, and each message kind is a template rendered
in the recipient's language (their own setting, else Simplified Chinese), amounts and times formatted by CLDR."""

from pathlib import Path

import pytest

from notifications import messages
from notifications.models import Notification
from tests.factories.notifications import PLAIN_VISIT_WORKFLOW, emit
from tests.factories.workflows import make_order, stage_of

pytestmark = pytest.mark.django_db
Channel = Notification.Channel


@pytest.fixture
def order(store, consumer, store_manager):
    return make_order(store=store, consumer=consumer, definition=PLAIN_VISIT_WORKFLOW)


def sms(event, person):
    return Notification.objects.get(event=event, recipient=person, channel=Channel.SMS).body


def test_a_consumer_without_a_language_gets_chinese_with_cldr_amounts_and_times(order, consumer):
    visit = stage_of(order, "visit")
    booked = emit(order, "stage.book", stage=visit, trigger="book", from_state="visit:ready",
                  to_state="visit:scheduled", payload={"window_start": "2030-03-04T02:00:00+00:00"})
    due = emit(order, "installment.due", stage=visit, payload={"amount": "12000.00", "currency": "CNY"})

    assert "上门已预约：3月4日周一 10:00" in sms(booked, consumer)
    assert "阶段款待支付：¥12,000.00" in sms(due, consumer)
    assert "订单进度：/track/" in sms(due, consumer)
    created = Notification.objects.get(order=order, kind="order.created", channel=Channel.EMAIL)
    assert created.subject == f"您在{order.store.name}的服务订单 {order.number}"


def test_each_recipient_reads_their_own_language(order, consumer, store_manager):
    consumer.language = "en"
    consumer.save(update_fields=["language"])
    store_manager.language = "zh-hans"
    store_manager.save(update_fields=["language"])

    event = emit(order, "job.no_show", stage=stage_of(order, "visit"))

    assert sms(event, consumer).startswith("We are sorry: the technician did not arrive")
    told = Notification.objects.get(event=event, recipient=store_manager, channel=Channel.EMAIL)
    assert told.subject == f"服务订单 {order.number} 服务师傅未上门"
    assert "请联系消费者并为错过的上门服务改约" in told.body


def test_every_routed_message_has_its_template_and_every_template_is_routed():
    routed = {kind for table in (messages.ROUTES, messages.STAGE_ROUTES) for routes in table.values()
              for _audience, kind, _only in routes}
    routed |= {"appointment.reminder", "update"}  # the reminder scan's, and the fallback
    assert routed == messages.KINDS
    for kind in messages.KINDS:
        lines = (Path(messages.ENGINE.dirs[0]) / f"{kind}.txt").read_text().strip().splitlines()
        assert len(lines) == 3, f"{kind}: a comment, the subject line and the text"


@pytest.mark.parametrize("language, subject", [("zh-hans", "服务订单 SO1 超时"), ("en", "SLA breach on order SO1")])
def test_a_message_renders_in_the_language_asked(language, subject):
    import zoneinfo

    ctx = messages.Context(order_number="SO1", store_name="静安店", tz=zoneinfo.ZoneInfo("Asia/Shanghai"),
                           stage_name="上门测量", tracking_url="", payload={"_event_kind": "sla.no_show"},
                           currency="CNY")
    rendered = messages.render("sla.breached", ctx, language)
    assert rendered.subject == subject
    assert ("服务师傅未签到" if language == "zh-hans" else "the technician did not check in") in rendered.body
