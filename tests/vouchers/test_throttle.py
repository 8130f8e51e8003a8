"""Failed redeem attempts are limited per user and per job; past the limit: 429 with Retry-After."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import TechnicianFactory
from vouchers import codes, throttle
from vouchers.models import RedeemFailureCounter, VoucherLockout
from workflows.models import OrderEvent


def _wrong():
    return codes.display(codes.generate())


def test_after_five_failures_a_minute_the_user_gets_429_even_with_the_right_code(
        settings, redeem, store_manager, job, order, code):
    settings.VOUCHER_REDEEM_FAILURES_PER_MINUTE = 5
    for _ in range(5):
        assert redeem(store_manager, _wrong()).status_code == 404
    response = redeem(store_manager, code)
    assert response.status_code == 429
    assert response.json()["code"] == "too_many_attempts"
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    assert order.vouchers.get().state == "issued"
    lockout = VoucherLockout.objects.get(bucket=f"user:{store_manager.pk}:m")
    assert lockout.user_id == store_manager.pk


def test_a_locked_out_job_is_recorded_on_the_order(settings, redeem, technician, started_job, order, code):
    settings.VOUCHER_REDEEM_FAILURES_PER_MINUTE = 3
    for _ in range(3):
        assert redeem(technician, _wrong(), job=started_job).status_code == 404
    response = redeem(technician, code, job=started_job)
    assert response.status_code == 429 and response.has_header("Retry-After")
    events = OrderEvent.objects.filter(order=order, kind="voucher.lockout")
    assert {e.payload["bucket"] for e in events} == {f"job:{started_job.pk}:m", f"user:{technician.pk}:m"}
    assert all(e.payload["job"] == started_job.pk for e in events)
    # repeated 429s in the same window do not repeat the record
    redeem(technician, code, job=started_job)
    assert OrderEvent.objects.filter(order=order, kind="voucher.lockout").count() == events.count()


def test_the_job_limit_holds_for_another_user_on_the_same_job(settings, redeem, technician, started_job, store,
                                                              store_manager, code):
    settings.VOUCHER_REDEEM_FAILURES_PER_MINUTE = 2
    for _ in range(2):
        redeem(technician, _wrong(), job=started_job)
    # the store manager's own budget is intact, but the job is locked
    assert redeem(store_manager, code, job=started_job).status_code == 429
    assert redeem(store_manager, code).status_code == 200


def test_typos_count_as_failures(settings, redeem, store_manager, job):
    settings.VOUCHER_REDEEM_FAILURES_PER_MINUTE = 2
    bad = "AAAA-AAAA-AAAA-AAAA-A"
    assert redeem(store_manager, bad).status_code in (400, 404)
    assert redeem(store_manager, bad).status_code in (400, 404)
    assert redeem(store_manager, bad).status_code == 429


def test_successes_and_non_guess_refusals_do_not_use_up_the_budget(settings, redeem, store_manager, job, code):
    settings.VOUCHER_REDEEM_FAILURES_PER_MINUTE = 1
    assert redeem(store_manager, code).status_code == 200
    for _ in range(3):
        assert redeem(store_manager, code).status_code == 409  # already redeemed: not a guess
    # One counter row per minute window: a run that crosses a minute boundary has two, both at zero.
    counters = RedeemFailureCounter.objects.filter(bucket=f"user:{store_manager.pk}:m")
    assert counters.exists() and [c.count for c in counters] == [0] * counters.count()


def test_hour_limit(settings, store_manager, db):
    settings.VOUCHER_REDEEM_FAILURES_PER_MINUTE = 1000
    settings.VOUCHER_REDEEM_FAILURES_PER_HOUR = 3
    now = datetime(2030, 1, 1, 10, 20, 30, tzinfo=UTC)
    for _ in range(3):
        throttle.reserve(user_id=store_manager.pk, job_id=None, now=now)
    with pytest.raises(throttle.RedeemLocked) as locked:
        throttle.reserve(user_id=store_manager.pk, job_id=None, now=now)
    assert locked.value.retry_after == 39 * 60 + 30
    # the next hour is a new window
    throttle.reserve(user_id=store_manager.pk, job_id=None, now=now + timedelta(hours=1))


def test_other_users_are_not_affected(settings, redeem, store_manager, merchant_admin, job, code, store):
    settings.VOUCHER_REDEEM_FAILURES_PER_MINUTE = 1
    redeem(store_manager, _wrong())
    assert redeem(store_manager, code).status_code == 429
    TechnicianFactory(stores=[store])
    assert redeem(merchant_admin, code).status_code == 200
