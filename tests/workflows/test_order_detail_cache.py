"""The order detail is cached per order version and viewer: proof that it is never stale for what
the order shows, never crosses viewers, and answers conditional GETs.

Each change below goes through the product's own paths (API or service) with the cache on; the
very next detail request must show it: it differs from the copy cached before the change, and
equals what a build without the cache gives.
"""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications.services import tracking_link_revoke
from payments.models import Installment, Payment
from payments.services import installment_pay, payment_fail, payment_refund, sandbox_checkout_complete
from tests.factories.fieldwork import starting_soon
from tests.factories.vouchers import book_visit as book_voucher_visit
from tests.factories.vouchers import make_voucher_order, voucher_of
from tests.factories.workflows import linear_stages, make_order, stage_of
from tests.fieldwork.helpers import distinct_image
from vouchers.services import voucher_expire
from workflows import services
from workflows.services import appointment_mark_no_show

pytestmark = pytest.mark.django_db

# The order's visibility with its version (read with its whole row); the client's token is in the cache after its
# first request (core.authentication).
CACHED_QUERIES = 1
CACHED_QUERIES_STORE_MANAGER = 2  # and the manager's stores (tenancy.scoping)


@pytest.fixture(autouse=True)
def _cache_on(settings):
    settings.ORDER_DETAIL_CACHE_SECONDS = 60


class Watch:
    """One viewer's detail of one order, through the API."""

    def __init__(self, api, order_id, settings, cached_queries=CACHED_QUERIES):
        self.api, self.url, self.settings = api, f"/api/v1/orders/{order_id}/", settings
        self.cached_queries = cached_queries
        self.last = self.get()
        self.assert_cached()

    def get(self, **headers):
        response = self.api.get(self.url, **headers)
        assert response.status_code == 200, response.content[:300]
        return response.json()

    def uncached(self):
        self.settings.ORDER_DETAIL_CACHE_SECONDS = 0
        try:
            return self.get()
        finally:
            self.settings.ORDER_DETAIL_CACHE_SECONDS = 60

    def assert_cached(self):
        """The copy is in the cache: the next request reads nothing but the token and the version."""
        with CaptureQueriesContext(connection) as ctx:
            again = self.get()
        assert len(ctx.captured_queries) == self.cached_queries, [q["sql"] for q in ctx.captured_queries]
        assert again == self.last

    def changed(self) -> dict:
        now = self.get()
        assert now != self.last, "the change is not in the very next detail"
        assert now == self.uncached()
        self.last = now
        self.assert_cached()
        return now


def photo(name="p.png"):
    return SimpleUploadedFile(name, distinct_image(), content_type="image/png")  # the same photo twice is a 409


def _pay(watchers, installment_id, consumer):
    installment = Installment.objects.get(pk=installment_id)
    payment = installment_pay(installment=installment, actor=consumer).payment
    d = [w.changed() for w in watchers][0]
    assert next(i for i in d["installments"] if i["id"] == installment_id)["state"] == "processing"
    sandbox_checkout_complete(payment=payment, outcome="paid")
    d = [w.changed() for w in watchers][0]
    assert next(i for i in d["installments"] if i["id"] == installment_id)["state"] == "paid"
    return Payment.objects.get(pk=payment.pk)


def _due(detail):
    return [i["id"] for i in detail["installments"] if i["state"] == "due"]


def test_every_kind_of_change_shows_in_the_very_next_detail(
    client_for, settings, store, consumer, store_manager, technician, technician2, django_assert_num_queries
):
    order = make_order(store=store, consumer=consumer, actor=store_manager)
    manager, tech = client_for(store_manager), client_for(technician)
    watchers = [Watch(client_for(consumer), order.pk, settings),
                Watch(manager, order.pk, settings, CACHED_QUERIES_STORE_MANAGER)]
    mine = watchers[0]

    def changed() -> dict:
        return [w.changed() for w in watchers][0]

    # payments: start (installment processing), capture (paid, ledger, voucher issued)
    deposit = _pay(watchers, _due(mine.last)[0], consumer)
    d = mine.last
    assert d["money"]["paid"] == "1200.00" and d["state"] == "measuring:ready"
    assert [(v["stage_code"], v["state"]) for v in d["vouchers"]] == [("measuring", "issued")]

    # booking, assignment, reschedule
    measuring = stage_of(order, "measuring")
    slots = services.appointment_slots(stage=measuring)
    booked = services.appointment_book(stage=measuring, window_start=slots[0].start, actor=consumer)
    assert [a["id"] for a in changed()["appointments"]] == [booked.pk]
    services.appointment_assign(appointment=booked, technician=technician2, actor=store_manager)
    assert changed()["appointments"][0]["technician"] == technician2.pk
    moved = services.appointment_reschedule(appointment=booked, window_start=slots[1].start, actor=consumer)
    appointments = changed()["appointments"]
    assert [(a["id"], a["state"]) for a in appointments] == [(booked.pk, "cancelled"), (moved.pk, "booked")]
    services.appointment_assign(appointment=moved, technician=technician, actor=store_manager)
    changed()

    # field work: check-in, voucher redeemed, evidence, check-out, job complete
    job = f"/api/v1/technician/jobs/{moved.pk}"
    starting_soon(moved)  # the visit's day comes
    here = {"latitude": str(order.latitude), "longitude": str(order.longitude), "accuracy_m": 8}
    now = timezone.now()
    assert tech.post(f"{job}/check-in/", {"client_event_id": str(uuid.uuid4()), "recorded_at": now.isoformat(),
                                          **here}, format="json").status_code == 201
    d = changed()
    # (the moved visit, today now, lists before the cancelled one of tomorrow)
    visit = next(v for v in d["visits"] if v["appointment"] == moved.pk)
    assert visit["checked_in_at"] and next(a for a in d["appointments"] if a["id"] == moved.pk)["state"] == "checked_in"
    code = d["vouchers"][0]["code"]
    assert tech.post("/api/v1/vouchers/redeem/", {"code": code, "job": moved.pk}).status_code == 200
    assert changed()["vouchers"][0]["state"] == "redeemed"
    for i in range(2):
        upload = {"file": photo(f"p{i}.png"), "kind": "photo", "client_event_id": str(uuid.uuid4())}
        assert tech.post(f"{job}/evidence/", upload, format="multipart").status_code == 201
        assert changed()["timeline"][-1]["kind"] == "job.evidence_added"
    checklist = ["Walls measured", "Floor level checked", "Power sockets marked"]
    out = {"client_event_id": str(uuid.uuid4()), "recorded_at": (now + timedelta(seconds=5)).isoformat(), **here,
           "notes": "Done", "checklist": checklist}
    assert tech.post(f"{job}/check-out/", out, format="json").status_code == 201
    assert next(v for v in changed()["visits"] if v["appointment"] == moved.pk)["checked_out_at"]
    assert tech.post(f"{job}/complete/", {"client_event_id": str(uuid.uuid4())}, format="json").status_code == 200
    assert changed()["state"] == "design:ready"

    # approvals: submitted with a file, rejected, resumed, submitted again, approved
    design = stage_of(order, "design")
    submit = {"notes": "Draft 1", "file": photo("d1.png")}
    assert manager.post(f"/api/v1/stages/{design.pk}/submit/", submit, format="multipart").status_code == 200
    d = changed()
    stage = next(s for s in d["stages"] if s["code"] == "design")
    assert stage["state"] == "awaiting_approval" and stage["submission_notes"] == "Draft 1"
    assert len(stage["submission_files"]) == 1
    consumer_api = client_for(consumer)
    assert consumer_api.post(f"/api/v1/stages/{design.pk}/reject/", {"reason": "Wider"}).status_code == 200
    assert next(s for s in changed()["stages"] if s["code"] == "design")["rework_rounds"] == 1
    submit = {"notes": "Draft 2", "file": photo("d2.png")}
    assert manager.post(f"/api/v1/stages/{design.pk}/submit/", submit, format="multipart").status_code == 200
    assert len(next(s for s in changed()["stages"] if s["code"] == "design")["submission_files"]) == 2
    assert consumer_api.post(f"/api/v1/stages/{design.pk}/approve/").status_code == 200
    d = changed()
    assert d["state"] == "installation:waiting_payment" and len(_due(d)) == 2

    # a failed payment attempt, then a refund of part of the deposit (settled at once by the sandbox)
    attempt = installment_pay(installment=Installment.objects.get(pk=_due(d)[0]), actor=consumer).payment
    changed()
    payment_fail(payment=attempt)
    assert next(i for i in changed()["installments"] if i["id"] == attempt.installment_id)["state"] == "failed"
    payment_refund(payment=deposit, amount=Decimal("200.00"), actor=store_manager, reason="goodwill")
    assert changed()["money"]["refunded"] == "200.00"

    # built from the database: the order with its version (and the brand's payment accounts annotated), stages
    # (with files and visits), events, installments (with the ledger), vouchers, check-ins and check-outs
    settings.ORDER_DETAIL_CACHE_SECONDS = 0
    with django_assert_num_queries(6):
        assert consumer_api.get(f"/api/v1/orders/{order.pk}/").status_code == 200
    settings.ORDER_DETAIL_CACHE_SECONDS = 60

    # the tracking link is revoked: a new link at once
    before = mine.last["tracking_url"]
    tracking_link_revoke(order=order, actor=store_manager)
    assert changed()["tracking_url"] != before

    # cancellation: state, reason, installments cancelled
    assert consumer_api.post(f"/api/v1/orders/{order.pk}/cancel/", {"reason": "Moving out"}).status_code == 200
    d = changed()
    assert (d["state"], d["status"], d["cancel_reason"]) == ("cancelled", "cancelled", "Moving out")
    assert {i["state"] for i in d["installments"]} >= {"cancelled"}


def test_voucher_revoke_expiry_and_a_no_show_show_at_once(client_for, settings, store, consumer, store_manager,
                                                           technician):
    expiring = make_voucher_order(store=store, consumer=consumer)
    watch = Watch(client_for(consumer), expiring.pk, settings)
    voucher = voucher_of(expiring)
    assert voucher_expire(voucher_id=voucher.pk, now=voucher.valid_until + timedelta(seconds=1))
    assert watch.changed()["vouchers"][0]["state"] == "expired"

    order = make_voucher_order(store=store, consumer=consumer)
    watch = Watch(client_for(consumer), order.pk, settings)
    visit = book_voucher_visit(order)
    assert watch.changed()["appointments"][0]["state"] == "booked"
    appointment_mark_no_show(appointment=visit, actor=store_manager)
    assert watch.changed()["appointments"][0]["state"] == "no_show"
    services.order_cancel(order=order, actor=store_manager, reason="No visit")
    assert watch.changed()["vouchers"][0]["state"] == "revoked"


def test_a_cached_detail_is_never_served_to_another_viewer(
    client_for, settings, store, consumer, consumer2, store_manager, merchant_admin, technician, other_admin,
    other_store_manager, operator,
):
    order = make_voucher_order(store=store, consumer=consumer)
    url = f"/api/v1/orders/{order.pk}/"
    owner = client_for(consumer).get(url)
    assert owner.status_code == 200 and "code" in owner.json()["vouchers"][0]
    assert client_for(consumer).get(url).json() == owner.json()  # cached
    for staff in (store_manager, merchant_admin, operator):
        seen = client_for(staff).get(url)
        assert seen.status_code == 200
        assert "code" not in seen.json()["vouchers"][0] and "qr_url" not in seen.json()["vouchers"][0]
        assert owner.json()["vouchers"][0]["code"] not in seen.content.decode()
    # people who may not see the order: 404, with or without the owner's ETag, cached or not
    for outsider in (consumer2, technician, other_admin, other_store_manager):
        api = client_for(outsider)
        for _ in range(2):
            assert api.get(url).status_code == 404
            assert api.get(url, HTTP_IF_NONE_MATCH=owner["ETag"]).status_code == 404
    # the list's filters still narrow the detail
    assert client_for(consumer).get(url, {"status": "cancelled"}).status_code == 404
    assert client_for(consumer).get(url, {"status": "active"}).status_code == 200
    for not_an_order in ("abc", "0", str(2**63), str(2**70), "-5"):  # the consumer's read is compiled (ADR 0009)
        assert client_for(consumer).get(f"/api/v1/orders/{not_an_order}/").status_code == 404


def test_the_cache_never_holds_a_voucher_code_in_clear(client_for, settings, store, consumer):
    from django.core.cache import cache

    from vouchers import codes

    order = make_voucher_order(store=store, consumer=consumer)
    api = client_for(consumer)
    code = api.get(f"/api/v1/orders/{order.pk}/").json()["vouchers"][0]["code"]
    assert api.get(f"/api/v1/orders/{order.pk}/").json()["vouchers"][0]["code"] == code  # from the cache
    stored = b"".join(cache._cache.values())  # the local-memory backend's pickled entries
    assert stored and code.encode() not in stored and codes.normalize(code).encode() not in stored


def test_losing_sight_of_an_order_is_a_404_at_once(client_for, settings, store, store2, consumer, store_manager):
    order = make_order(store=store, consumer=consumer)
    api = client_for(store_manager)
    assert api.get(f"/api/v1/orders/{order.pk}/").status_code == 200
    store_manager.stores.set([store2])
    assert client_for(store_manager).get(f"/api/v1/orders/{order.pk}/").status_code == 404


def test_conditional_get_answers_304_until_the_order_changes(client_for, settings, store, consumer, store_manager):
    order = make_order(store=store, consumer=consumer, definition=linear_stages(3, requires_approval=True))
    api = client_for(consumer)
    url = f"/api/v1/orders/{order.pk}/"
    first = api.get(url)
    etag = first["ETag"]
    assert first.status_code == 200 and etag.startswith('"')
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        not_modified = api.get(url, HTTP_IF_NONE_MATCH=header)
        assert not_modified.status_code == 304 and not_modified.content == b""
        assert not_modified["ETag"] == etag
    assert api.get(url, HTTP_IF_NONE_MATCH='"other"').status_code == 200
    # the same body gives the same ETag, built again without the cache
    settings.ORDER_DETAIL_CACHE_SECONDS = 0
    assert api.get(url)["ETag"] == etag
    settings.ORDER_DETAIL_CACHE_SECONDS = 60
    services.stage_submit(stage=order.current_stage, actor=store_manager, notes="done")
    changed = api.get(url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert changed.json()["stages"][0]["state"] == "awaiting_approval"


def test_names_from_outside_the_order_are_bounded_by_the_cache_lifetime(
    client_for, settings, store, consumer, monkeypatch
):
    """A store's name changes without an order event: the cached detail shows the new name once its
    entry expires (ORDER_DETAIL_CACHE_SECONDS), as the documentation says."""
    import time

    order = make_order(store=store, consumer=consumer)
    api = client_for(consumer)
    url = f"/api/v1/orders/{order.pk}/"
    assert api.get(url).json()["store_name"] == store.name
    store.name = "Renamed"
    store.save(update_fields=["name"])
    assert api.get(url).json()["store_name"] != "Renamed"
    later = time.time() + 61
    monkeypatch.setattr("django.core.cache.backends.locmem.time.time", lambda: later)
    assert api.get(url).json()["store_name"] == "Renamed"


def test_detail_queries_cold_and_cached(client_for, settings, store, consumer, store_manager,
                                        django_assert_num_queries):
    small = make_order(store=store, consumer=consumer, definition=linear_stages(4, requires_approval=True))
    large = make_order(store=store, consumer=consumer, definition=linear_stages(40, requires_approval=True))
    api = client_for(consumer)
    assert api.get("/api/v1/orders/").status_code == 200  # its token's look-up now in the cache
    for order in (small, large):
        services.stage_submit(stage=order.current_stage, actor=store_manager, notes="done")
        # the order with its version, stages with their files and visits, events (installments with
        # their ledger only when a stage carries a payment, vouchers when one needs a voucher, site
        # records when a visit was checked in)
        with django_assert_num_queries(3):
            assert api.get(f"/api/v1/orders/{order.pk}/").status_code == 200
        with django_assert_num_queries(CACHED_QUERIES):
            assert api.get(f"/api/v1/orders/{order.pk}/").status_code == 200
