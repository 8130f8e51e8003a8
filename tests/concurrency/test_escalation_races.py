"""Escalation races (issue 21, point 5), on PostgreSQL: two escalation runs at the same instant send each level of a
breach once (the order's row lock, then a conditional UPDATE of the level's column); and the runs walk the partial
indexes, not the breach table."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from insights.escalation import brand_pending, escalation_scan, platform_pending
from insights.models import SlaBreach
from insights.sla import sla_scan
from notifications.models import Notification
from tests.factories.workflows import make_order, make_template
from workflows.models import OrderEvent, StageInstance

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
H = timedelta(hours=1)


def _together(n: int, fn) -> list:
    barrier, results, errors = threading.Barrier(n), [], []

    def run():
        try:
            barrier.wait(timeout=10)
            results.append(fn())
        except Exception as exc:  # a thread's exception would otherwise vanish
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and len(results) == n, errors
    return results


def test_two_runs_at_once_send_each_level_once(store, consumer, merchant_admin, operator, settings):
    settings.INSIGHTS_ESCALATE_BRAND_AFTER_HOURS, settings.INSIGHTS_ESCALATE_PLATFORM_AFTER_HOURS = 4, 24
    template = make_template(merchant=store.merchant, stores=[store])
    orders = [make_order(store=store, consumer=consumer, template=template) for _ in range(6)]
    now = timezone.now()
    StageInstance.objects.filter(order__in=orders, definition__code="design").update(
        state=StageInstance.State.IN_PROGRESS, sla_due_at=now - H)
    assert sla_scan(now=now)["stage_overdue"] == 6

    for level, at in (("brand", now + 4 * H), ("platform", now + 28 * H)):
        results = _together(4, lambda at=at: escalation_scan(now=at))
        assert sum(r[level] for r in results) == 6, results
        assert OrderEvent.objects.filter(kind=f"breach.escalated_to_{level}").count() == 6
        assert Notification.objects.filter(kind=f"sla.escalated_{level}").count() == 6  # one e-mail per breach
    assert SlaBreach.objects.filter(platform_escalated_at__isnull=False).count() == 6


def _plan(qs) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # the tables are tiny; ask what the planner can use
        sql, params = qs[:500].query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.django_db(transaction=False)
def test_the_walks_use_the_partial_indexes(store, consumer):
    now = timezone.now()
    brand_plan = _plan(brand_pending(now, 4).order_by("detected_at", "pk"))  # as the keyset walk asks
    platform_plan = _plan(platform_pending(now, 24).order_by("brand_escalated_at", "pk"))
    assert "breach_brand_pending_idx" in brand_plan, brand_plan
    assert "breach_platform_pending_idx" in platform_plan, platform_plan
