"""bench/generate.py's history is what the scale figures in docs/performance.md are measured on: it must stay a
history the product can go on with (it broke once, silently, when orders gained the chain's tail)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from bench.generate import generate
from insights.sla import sla_scan
from workflows.models import OrderEvent, ServiceOrder
from workflows.services import order_cancel

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def history():
    return generate(200, stores=2, technicians_per_store=2, consumers=20, log=lambda line: None)


def test_every_generated_order_carries_its_last_event_as_the_chain_tail(history):
    with connection.cursor() as cur:
        cur.execute("""
            SELECT o.id FROM workflows_serviceorder o
              LEFT JOIN LATERAL (SELECT e.seq, e.hash FROM workflows_orderevent e WHERE e.order_id = o.id
                                  ORDER BY e.seq DESC LIMIT 1) AS last ON true
             WHERE (o.event_tail_seq, o.event_tail_hash) IS DISTINCT FROM (last.seq, last.hash)""")
        assert cur.fetchall() == []
    assert ServiceOrder.objects.count() == history.orders == 200


def test_a_generated_active_order_takes_a_real_transition(history):
    order = ServiceOrder.objects.filter(status="active").order_by("pk").first()
    before = order.event_tail_seq

    order_cancel(order=order, actor=None, reason="bench history check")

    order.refresh_from_db()
    assert order.status == "cancelled"
    latest = OrderEvent.objects.filter(order=order).order_by("-seq").first()
    assert latest.seq > before and (order.event_tail_seq, order.event_tail_hash) == (latest.seq, latest.hash)


def test_the_generated_backlog_is_the_sla_scans_steady_state(history):
    """The generator records the breaches the scan would have found, so the bench measures the steady state."""
    found = sla_scan(now=timezone.now() - timedelta(minutes=1))
    assert sum(found.values()) <= history.orders // 50, found
