"""Real concurrency on PostgreSQL: one code redeemed exactly once, and the failure limit exact."""

import threading

import pytest
from django.db import connection
from django.utils import timezone

from vouchers import codes, throttle
from vouchers.models import Voucher
from workflows.models import OrderEvent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _parallel(n, fn):
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        try:
            barrier.wait()
            results[i] = fn(i)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_twenty_parallel_redeems_of_one_code_succeed_once(settings, client_for, store_manager, merchant_admin,
                                                          technician, job, order, code):
    settings.VOUCHER_REDEEM_FAILURES_PER_MINUTE = 100
    clients = [client_for(u) for u in (store_manager, merchant_admin)] * 10

    def redeem(i):
        response = clients[i].post("/api/v1/vouchers/redeem/", {"code": code}, format="json")
        return response.status_code, response.json()["code"] if response.status_code != 200 else "ok"

    results = _parallel(20, redeem)
    assert results.count((200, "ok")) == 1, results
    assert results.count((409, "voucher_already_redeemed")) == 19, results
    assert Voucher.objects.get(order=order).state == "redeemed"
    assert OrderEvent.objects.filter(order=order, kind="voucher.redeemed").count() == 1


def test_parallel_wrong_guesses_cannot_pass_the_limit(settings, monkeypatch, client_for, store_manager, job):
    settings.VOUCHER_REDEEM_FAILURES_PER_MINUTE = 5
    # All attempts fall in one window, even when the test runs across a minute boundary.
    frozen = timezone.now().replace(second=1)
    monkeypatch.setattr(throttle, "_now", lambda: frozen)
    client = client_for(store_manager)
    guesses = [codes.display(codes.generate()) for _ in range(20)]

    def guess(i):
        return client.post("/api/v1/vouchers/redeem/", {"code": guesses[i]}, format="json").status_code

    results = _parallel(20, guess)
    assert sorted(results) == [404] * 5 + [429] * 15, results
