"""Outbound webhooks: enterprise merchants' order events reach their own HTTP endpoint, signed,
retried with backoff, each delivered once. The receiver is a local HTTP server on 127.0.0.1."""

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from insights import tasks
from insights.models import OutboundDelivery, WebhookEndpoint
from insights.webhooks import backoff, delivery_attempt, webhook_event_listener
from tests.factories.insights import make_endpoint
from tests.factories.workflows import linear_stages, make_order
from workflows.models import OrderEvent

D = OutboundDelivery.State


class Receiver:
    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[int] = []  # answers to give, in order; then 200

        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body, "path": self.path})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"try later")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.OUTBOUND_WEBHOOK_ALLOW_PRIVATE_HOSTS = True  # the test receiver is on 127.0.0.1
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def enterprise(merchant):
    merchant.tier = "enterprise"
    merchant.save()
    return merchant


def _verify(req, secret):
    ts = req["headers"]["X-Timestamp"]
    expected = hmac.new(secret.encode(), ts.encode() + b"." + req["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, req["headers"]["X-Signature"])


def test_events_are_delivered_signed(enterprise, store, consumer, receiver, django_capture_on_commit_callbacks):
    endpoint = make_endpoint(merchant=enterprise, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(store=store, consumer=consumer)

    kinds = list(OrderEvent.objects.filter(order=order).order_by("seq").values_list("kind", flat=True))
    assert kinds and len(receiver.requests) == len(kinds)
    assert [json.loads(r["body"])["kind"] for r in receiver.requests] == kinds
    first = receiver.requests[0]
    assert _verify(first, endpoint.secret)
    body = json.loads(first["body"])
    assert body["order"]["number"] == order.number and body["seq"] == 1
    assert first["headers"]["X-Event-Id"] == body["id"]
    assert set(OutboundDelivery.objects.values_list("state", flat=True)) == {D.DELIVERED}
    d = OutboundDelivery.objects.first()
    assert (d.attempts, d.last_status, d.response_snippet) == (1, 200, "ok")


def test_event_kind_filter(enterprise, store, consumer, receiver, django_capture_on_commit_callbacks):
    make_endpoint(merchant=enterprise, url=receiver.url, event_kinds=["order.*"])
    with django_capture_on_commit_callbacks(execute=True):
        make_order(store=store, consumer=consumer)
    assert [json.loads(r["body"])["kind"] for r in receiver.requests] == ["order.created"]


@pytest.mark.parametrize("tier", ["basic", "growth"])
def test_only_enterprise_merchants_get_webhooks(merchant, store, consumer, receiver, tier,
                                                django_capture_on_commit_callbacks):
    merchant.tier = tier
    merchant.save()
    make_endpoint(merchant=merchant, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        make_order(store=store, consumer=consumer, definition=linear_stages(2))
    assert not OutboundDelivery.objects.exists() and receiver.requests == []


def test_inactive_endpoint_and_other_merchants_get_nothing(enterprise, store, consumer, receiver, other_merchant,
                                                           django_capture_on_commit_callbacks):
    make_endpoint(merchant=enterprise, url=receiver.url, active=False)
    other_merchant.tier = "enterprise"
    other_merchant.save()
    make_endpoint(merchant=other_merchant, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        make_order(store=store, consumer=consumer)
    assert receiver.requests == []


def test_failure_is_retried_with_backoff_and_delivered_once(enterprise, store, consumer, receiver):
    make_endpoint(merchant=enterprise, url=receiver.url, event_kinds=["order.created"])
    make_order(store=store, consumer=consumer)  # on_commit not run: queued, not sent
    d = OutboundDelivery.objects.get()
    receiver.statuses = [500, 503]

    t0 = timezone.now()
    d = delivery_attempt(delivery_id=d.pk, now=t0)
    assert (d.state, d.attempts, d.last_status, d.response_snippet) == (D.PENDING, 1, 500, "try later")
    assert d.next_attempt_at >= t0 + timedelta(seconds=60)

    # Not due yet: the sweeper does not send it.
    assert tasks.retry_webhook_deliveries.delay().get() == 0
    assert len(receiver.requests) == 1

    d = delivery_attempt(delivery_id=d.pk, now=d.next_attempt_at + timedelta(seconds=1))
    assert (d.state, d.attempts, d.last_status) == (D.PENDING, 2, 503)
    assert d.next_attempt_at >= timezone.now() + timedelta(seconds=110)  # 2 min after the 2nd failure

    d = delivery_attempt(delivery_id=d.pk, now=d.next_attempt_at + timedelta(seconds=1))
    assert (d.state, d.attempts, d.last_status) == (D.DELIVERED, 3, 200)
    # Delivered is final: asking again sends nothing.
    delivery_attempt(delivery_id=d.pk, now=timezone.now() + timedelta(days=1), force=True)
    assert len(receiver.requests) == 3
    # The receiver can drop duplicates by X-Event-Id: the same on every attempt.
    assert len({r["headers"]["X-Event-Id"] for r in receiver.requests}) == 1


def test_backoff_doubles_and_is_capped(settings):
    settings.OUTBOUND_WEBHOOK_BACKOFF_SECONDS = 60
    settings.OUTBOUND_WEBHOOK_BACKOFF_MAX_SECONDS = 3600
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4, 7, 20)] == [60, 120, 240, 480, 3600, 3600]


def test_gives_up_after_max_attempts(enterprise, store, consumer, receiver, settings):
    settings.OUTBOUND_WEBHOOK_MAX_ATTEMPTS = 2
    make_endpoint(merchant=enterprise, url=receiver.url, event_kinds=["order.created"])
    make_order(store=store, consumer=consumer)
    receiver.statuses = [500, 500, 500]
    d = OutboundDelivery.objects.get()
    delivery_attempt(delivery_id=d.pk, force=True)
    d = delivery_attempt(delivery_id=d.pk, force=True)
    assert (d.state, d.attempts, d.next_attempt_at) == (D.FAILED, 2, None)
    delivery_attempt(delivery_id=d.pk, force=True)
    assert len(receiver.requests) == 2


def test_private_addresses_refused_by_default(enterprise, store, consumer, receiver, settings):
    settings.OUTBOUND_WEBHOOK_ALLOW_PRIVATE_HOSTS = False
    make_endpoint(merchant=enterprise, url=receiver.url, event_kinds=["order.created"])
    make_order(store=store, consumer=consumer)
    d = delivery_attempt(delivery_id=OutboundDelivery.objects.get().pk, force=True)
    assert d.state == D.PENDING and d.last_status is None and "non-public" in d.last_error
    assert receiver.requests == []


def test_endpoint_and_tier_changes_apply_to_the_next_event(enterprise, store, consumer, receiver):
    """Adding an endpoint, switching it off, downgrading the merchant: each is seen by the very next event."""
    from workflows.engine import fire

    order = make_order(store=store, consumer=consumer, definition=linear_stages(3, requires_approval=True))
    assert not OutboundDelivery.objects.exists()
    endpoint = make_endpoint(merchant=enterprise, url=receiver.url)
    first = fire(order_id=order.pk, trigger="start").event
    assert list(OutboundDelivery.objects.values_list("event_id", flat=True)) == [first.pk]

    endpoint.active = False
    endpoint.save()
    fire(order_id=order.pk, trigger="complete")
    assert OutboundDelivery.objects.count() == 1

    endpoint.active = True
    endpoint.save()
    enterprise.tier = "growth"
    enterprise.save()
    fire(order_id=order.pk, trigger="approve", actor=consumer)
    assert OutboundDelivery.objects.count() == 1

    enterprise.tier = "enterprise"
    enterprise.save()
    fire(order_id=order.pk, trigger="start")
    assert OutboundDelivery.objects.count() == 2

    endpoint.delete()
    fire(order_id=order.pk, trigger="complete")
    assert OutboundDelivery.objects.count() == 0  # the deliveries went with the endpoint; none was added


def test_merchant_webhook_flag_follows_its_endpoints(enterprise):
    """The flag that spares merchants without webhooks a lookup per event is true exactly while one of
    their endpoints is active, whatever the order of changes."""
    second = make_endpoint(merchant=enterprise, url="https://hooks.example.com/b")

    def flag() -> bool:
        enterprise.refresh_from_db(fields=["has_active_webhooks"])
        return enterprise.has_active_webhooks

    first = make_endpoint(merchant=enterprise, url="https://hooks.example.com/a")
    assert flag()
    first.active = False
    first.save()
    assert flag()  # the second is still active
    second.delete()
    assert not flag()
    first.active = True
    first.save()
    assert flag()


def test_merchant_without_webhooks_costs_no_query_per_event(enterprise, store, consumer,
                                                            django_assert_num_queries):
    from workflows.engine import lock_order
    from workflows.models import OrderEvent

    order = make_order(store=store, consumer=consumer)
    locked = lock_order(order.pk)
    event = OrderEvent.objects.filter(order=order).first()
    event.order = locked
    with django_assert_num_queries(0):
        webhook_event_listener(event)


def test_downgraded_merchant_deliveries_stop(enterprise, store, consumer, receiver):
    make_endpoint(merchant=enterprise, url=receiver.url, event_kinds=["order.created"])
    make_order(store=store, consumer=consumer)
    enterprise.tier = "growth"
    enterprise.save()
    d = delivery_attempt(delivery_id=OutboundDelivery.objects.get().pk, force=True)
    assert d.state == D.FAILED and receiver.requests == []


def test_unreachable_endpoint_is_a_failed_attempt(enterprise, store, consumer, settings):
    settings.OUTBOUND_WEBHOOK_ALLOW_PRIVATE_HOSTS = True
    r = Receiver()
    url = r.url
    r.close()  # nothing listens there any more
    make_endpoint(merchant=enterprise, url=url, event_kinds=["order.created"])
    make_order(store=store, consumer=consumer)
    d = delivery_attempt(delivery_id=OutboundDelivery.objects.get().pk, force=True)
    assert d.state == D.PENDING and d.attempts == 1 and d.last_status is None and d.last_error


# --- admin -----------------------------------------------------------------------------------------
ADD_URL = "/admin/insights/webhookendpoint/add/"


@pytest.mark.usefixtures("english")
@pytest.mark.parametrize("tier, created", [("basic", False), ("growth", False), ("enterprise", True)])
def test_admin_endpoint_needs_enterprise(client, merchant, merchant_admin, tier, created):
    merchant.tier = tier
    merchant.save()
    client.force_login(merchant_admin)
    r = client.post(ADD_URL, {"url": "https://crm.example.com/hook", "active": "on", "event_kinds": "[]",
                              "description": "CRM"})
    assert WebhookEndpoint.objects.filter(merchant=merchant).exists() is created
    if not created:
        assert r.status_code == 200
        assert "does not include outbound webhooks to your own systems" in r.content.decode()


@pytest.mark.usefixtures("english")
def test_admin_changelist_warns_lower_tiers(client, merchant, merchant_admin):
    merchant.tier = "growth"
    merchant.save()
    client.force_login(merchant_admin)
    r = client.get("/admin/insights/webhookendpoint/")
    assert r.status_code == 200
    assert "does not include outbound webhooks" in r.content.decode()


def test_delivery_log_is_read_only_and_scoped(client, enterprise, store, consumer, merchant_admin, other_admin,
                                              receiver):
    make_endpoint(merchant=enterprise, url=receiver.url, event_kinds=["order.created"])
    make_order(store=store, consumer=consumer)
    d = OutboundDelivery.objects.get()
    client.force_login(merchant_admin)
    assert client.get("/admin/insights/outbounddelivery/").status_code == 200
    assert client.get(f"/admin/insights/outbounddelivery/{d.pk}/change/").status_code == 200
    assert client.post(f"/admin/insights/outbounddelivery/{d.pk}/delete/", {"post": "yes"}).status_code == 403
    assert OutboundDelivery.objects.filter(pk=d.pk).exists()
    client.force_login(other_admin)
    r = client.get(f"/admin/insights/outbounddelivery/{d.pk}/change/")
    assert r.status_code == 302  # "does not exist" redirect: not shown to another merchant


def test_saving_a_merchant_loaded_earlier_keeps_the_webhook_flag(enterprise):
    from tenancy.models import Merchant

    stale = Merchant.objects.get(pk=enterprise.pk)
    make_endpoint(merchant=enterprise, url="https://hooks.example.com/a")
    stale.name = "Renamed"
    stale.save()
    assert Merchant.objects.filter(pk=enterprise.pk, name="Renamed", has_active_webhooks=True).exists()
