"""E-mails carry an HTML part beside the text: the same message, readable on a phone, links clickable, in the
recipient's language, nothing in the message able to inject markup."""

import pytest

from notifications import tasks
from notifications.models import Notification
from tests.factories.notifications import PLAIN_VISIT_WORKFLOW, NotificationFactory
from tests.factories.workflows import make_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(store, consumer):
    return make_order(store=store, consumer=consumer, definition=PLAIN_VISIT_WORKFLOW)


def send_email(order, **fields):
    n = NotificationFactory(order=order, channel=Notification.Channel.EMAIL, **fields)
    assert tasks.deliver_notification.delay(n.pk).get() == "sent"
    return n


def html_part(message) -> str:
    (content, mimetype), = message.alternatives
    assert mimetype == "text/html"
    return content


def test_the_html_part_is_the_message_with_its_link_clickable_in_chinese(order, mailoutbox):
    link = "https://service.example.com/track/abc/?x=1&y=2"
    body = f"您的设计稿已提交，请确认。\n订单进度：{link}"
    send_email(order, subject="设计稿待确认", body=body, params={"link": link})
    message = mailoutbox[0]
    assert message.body == body  # the text part is unchanged
    html = html_part(message)
    assert '<html lang="zh-hans">' in html
    assert "<title>设计稿待确认</title>" in html
    assert '订单进度：<a href="https://service.example.com/track/abc/?x=1&amp;y=2">' in html
    assert "您的设计稿已提交，请确认。<br>" in html
    assert f"此消息与服务订单 {order.number} 相关。" in html


def test_the_layout_speaks_the_recipients_own_language(order, mailoutbox):
    order.consumer.language = "en"
    order.consumer.save(update_fields=["language"])
    send_email(order, subject="Design ready", body="Please review it.")
    html = html_part(mailoutbox[0])
    assert '<html lang="en">' in html
    assert f"This message is about service order {order.number}." in html


def test_markup_in_a_message_is_shown_as_text(order, mailoutbox):
    send_email(order, subject="<b>x</b>", body='Reason: <script>alert(1)</script> & "more"')
    html = html_part(mailoutbox[0])
    assert "<script>" not in html and "<b>x</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;more&quot;" in html


def test_a_routed_message_links_the_tracking_page(order, mailoutbox, settings):
    """The order's own first e-mail to the consumer (routed and rendered as in production) links the page."""
    emailed = Notification.objects.filter(order=order, channel=Notification.Channel.EMAIL,
                                          recipient=order.consumer).exclude(params__link="").first()
    assert emailed is not None, "the consumer gets an e-mail with the tracking link when the order is created"
    assert tasks.deliver_notification.delay(emailed.pk).get() == "sent"
    link = emailed.params["link"]
    assert "/track/" in link
    assert f'<a href="{link}">' in html_part(mailoutbox[0])
