"""The read replica (core/replica.py): the metrics API and the dashboard read from the `replica` alias, everything
else (their authentication included) and every write from `default`.

In the tests `replica` is a second connection to the test database (Django's test MIRROR, config/settings/test.py),
as a streaming replica is a second server with the same rows; reads go there once DATABASE_REPLICA_READS is on.
What each connection was sent is captured on each, so a read that went to the wrong one shows.
"""

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.replica import REPLICA, replica_alias, replica_reads
from tests.factories.insights import record_checkin
from tests.factories.workflows import make_order
from workflows.models import ServiceOrder

BOTH = ["default", REPLICA]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def replica_on(settings):
    settings.DATABASE_REPLICA_READS = True


@pytest.fixture
def checked_in_order(store, consumer, technician):
    order = make_order(store=store, consumer=consumer)
    record_checkin(order=order, technician=technician, at=timezone.now() - timedelta(hours=1), on_time=True)
    return order


class Sent:
    """The statements each alias was sent inside the block."""

    def __enter__(self):
        self.contexts = {alias: CaptureQueriesContext(connections[alias]) for alias in BOTH}
        for ctx in self.contexts.values():
            ctx.__enter__()
        return self

    def __exit__(self, *exc):
        for ctx in self.contexts.values():
            ctx.__exit__(*exc)

    def sql(self, alias: str) -> list[str]:
        return [q["sql"] for q in self.contexts[alias].captured_queries]

    def touching(self, alias: str, table: str) -> list[str]:
        return [s for s in self.sql(alias) if f'"{table}"' in s]


def only_reads(statements: list[str]) -> bool:
    return all(s.lstrip().upper().startswith("SELECT") and "FOR UPDATE" not in s.upper() for s in statements)


@pytest.mark.django_db(transaction=True, databases=BOTH)
def test_the_metrics_api_reads_the_replica_and_authenticates_on_default(replica_on, client_for, operator,
                                                                         checked_in_order):
    client = client_for(operator)
    with Sent() as sent:
        response = client.get("/api/v1/platform/metrics/")
    assert response.status_code == 200, response.content
    assert response.json()["arrivals"]["checkins"] == 1 and response.json()["orders"]["created"] == 1
    assert sent.touching(REPLICA, "workflows_orderevent"), sent.sql(REPLICA)  # the figures came from the replica
    assert sent.touching(REPLICA, "workflows_stageinstance") and sent.touching(REPLICA, "payments_ledgerentry")
    assert only_reads(sent.sql(REPLICA))
    # default: the token and its user (read before the view's handler), none of the figures
    assert sent.touching("default", "authtoken_token")
    for table in ("workflows_orderevent", "workflows_stageinstance", "workflows_serviceorder", "payments_ledgerentry"):
        assert not sent.touching("default", table), sent.sql("default")


@pytest.mark.django_db(transaction=True, databases=BOTH)
def test_the_dashboard_reads_its_figures_from_the_replica(replica_on, client, operator, checked_in_order):
    client.force_login(operator)
    with Sent() as sent:
        response = client.get("/admin/insights/dashboard/")
    assert response.status_code == 200
    assert checked_in_order.number in response.content.decode() or "100%" in response.content.decode()
    assert sent.touching(REPLICA, "workflows_orderevent") and sent.touching(REPLICA, "workflows_stageinstance")
    assert only_reads(sent.sql(REPLICA))
    assert not sent.touching("default", "workflows_orderevent")


@pytest.mark.django_db(transaction=True, databases=BOTH)
def test_writes_and_locks_inside_the_block_go_to_default(replica_on, checked_in_order):
    with Sent() as sent, replica_reads():
        order = ServiceOrder.objects.get(pk=checked_in_order.pk)  # a read: the replica
        order.cancel_reason = "replica test"
        order.save(update_fields=["cancel_reason"])  # a write of a row read from the replica: default
        with transaction.atomic():
            ServiceOrder.objects.select_for_update().get(pk=order.pk)  # a locking read: default
        ServiceOrder.objects.filter(pk=order.pk).update(tracking_token_version=2)
    assert len(sent.touching(REPLICA, "workflows_serviceorder")) == 1 and only_reads(sent.sql(REPLICA))
    default = sent.touching("default", "workflows_serviceorder")
    assert [s.split()[0].upper() for s in default] == ["UPDATE", "SELECT", "UPDATE"]
    if connections["default"].features.has_select_for_update:  # PostgreSQL (SQLite ignores the lock)
        assert "FOR UPDATE" in default[1].upper()
    assert ServiceOrder.objects.get(pk=order.pk).cancel_reason == "replica test"


@pytest.mark.django_db(transaction=True, databases=BOTH)
def test_outside_the_block_every_read_is_from_default(replica_on, checked_in_order):
    with replica_reads():
        order = ServiceOrder.objects.get(pk=checked_in_order.pk)
    with Sent() as sent:
        assert order.store.pk == checked_in_order.store_id  # a related read of a row read from the replica
        ServiceOrder.objects.count()
    assert sent.sql(REPLICA) == []
    assert sent.touching("default", "tenancy_store") and sent.touching("default", "workflows_serviceorder")


@pytest.mark.django_db(transaction=True, databases=BOTH)
def test_switched_off_the_metrics_read_default(client_for, operator, checked_in_order):
    client = client_for(operator)
    with Sent() as sent:
        assert client.get("/api/v1/platform/metrics/").json()["arrivals"]["checkins"] == 1
    assert sent.sql(REPLICA) == []
    assert sent.touching("default", "workflows_orderevent")


def test_without_a_replica_configured_reads_stay_on_default(settings, monkeypatch):
    settings.DATABASE_REPLICA_READS = True
    with replica_reads():
        assert replica_alias() == REPLICA
        monkeypatch.delitem(connections.databases, REPLICA)
        assert replica_alias() == "default"
    assert replica_alias() == "default"


def test_database_replica_url_adds_the_replica_alias():
    """The settings as a deployment loads them: DATABASE_REPLICA_URL gives the `replica` alias its own server,
    with the same statement options as `default`."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.local", "PYTHONPATH": str(ROOT),
           "DATABASE_URL": "postgres://app@primary.internal:5432/service",
           "DATABASE_REPLICA_URL": "postgres://reader@replica.internal:5432/service"}
    script = ("import json, django; django.setup(); from django.conf import settings as s; "
              "print(json.dumps({a: [d['HOST'], d['USER'], d['OPTIONS'].get('prepare_threshold')] "
              "for a, d in s.DATABASES.items()}))")
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,  # noqa: S603
                         check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "default": ["primary.internal", "app", 1], "replica": ["replica.internal", "reader", 1]}
