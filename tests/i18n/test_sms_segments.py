"""SMS texts report their segment count (70 characters in one Chinese part, 67 per part once split; 160/153 for
GSM text), and no routine message needs more than two parts in Chinese, tracking link included."""

import base64
import logging

import pytest

from notifications import messages, services
from notifications.sms import LoggingSMSBackend, segments
from tests.factories.workflows import make_order


@pytest.mark.parametrize("text, parts", [
    ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3),
    ("{" * 80, 1), ("{" * 81, 2),  # GSM's extension characters count two
    ("您" * 70, 1), ("您" * 71, 2), ("您" * 134, 2), ("您" * 135, 3),
    ("Order" + "您", 1),  # one Chinese character makes the whole text UCS-2
])
def test_segments_count_as_the_networks_do(text, parts):
    assert segments(text) == parts


@pytest.mark.django_db
def test_no_routine_chinese_message_needs_more_than_two_parts(store, consumer, store_manager):
    """The link's token grows with the order's id: measured with the link of an order whose id has seven digits
    (a platform with millions of orders), not with this test database's small ids (on PostgreSQL the ids run on
    across tests, so a link-length check on them passed on SQLite and failed there)."""
    order = make_order(store=store, consumer=consumer, actor=store_manager)
    link = services.tracking_url(order)
    token = link.split("/")[2]
    head, _colon, signature = token.partition(":")
    million_token = base64.urlsafe_b64encode(b"[1234567,1]").decode().rstrip("=") + ":" + signature
    assert len(million_token) >= len(token)
    ctx = messages.Context(
        order_number=order.number, store_name="静安体验店", tz=store.tzinfo, stage_name="上门测量",
        tracking_url=link.replace(token, million_token), currency="CNY", needs_booking=True, technician_name="王师傅",
        address="上海市静安区南京西路1266号恒隆广场办公楼一座2501室（请走北门）",
        payload={"window_start": "2030-03-04T02:00:00+00:00", "window_end": "2030-03-04T04:00:00+00:00",
                 "amount": "12000.00", "reason": "颜色不对",
                 "valid_until": "2030-06-01T00:00:00+00:00", "_event_kind": "sla.no_show"},
    )
    parts = {kind: segments(messages.render(kind, ctx, "zh-hans").body) for kind in messages.KINDS}
    assert max(parts.values()) <= 2, {kind: n for kind, n in parts.items() if n > 2}


def test_the_log_backend_logs_the_full_text_with_its_parts(caplog):
    with caplog.at_level(logging.INFO, logger="notifications.sms"):
        LoggingSMSBackend().send("+8613800000001", "您的服务订单 SO1 已完成。", reference="n-1")
    assert "(1 part(s)): 您的服务订单 SO1 已完成。" in caplog.text and "***0001" in caplog.text
