"""Voucher lifecycle: the engine guard, revocation on cancel, expiry and the expiry reminder."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import GuardFailed
from tests.factories.vouchers import make_voucher_order, voucher_of
from vouchers import tasks
from vouchers.models import Voucher
from workflows import engine, services
from workflows.models import OrderEvent


def test_stage_requiring_a_voucher_cannot_complete_unredeemed(technician, started_job, order):
    with pytest.raises(GuardFailed) as failed:
        engine.fire(order_id=order.pk, trigger="complete", actor=technician, stage_id=started_job.stage_id)
    assert "voucher" in failed.value.detail
    order.refresh_from_db()
    assert order.state == "visit:in_progress"


def test_stage_completes_once_its_voucher_is_redeemed(redeem, technician, checked_in_job, order, code):
    with pytest.raises(GuardFailed):
        engine.fire(order_id=order.pk, trigger="complete", actor=technician, stage_id=checked_in_job.stage_id)
    assert redeem(technician, code, job=checked_in_job).status_code == 200
    engine.fire(order_id=order.pk, trigger="complete", actor=technician, stage_id=checked_in_job.stage_id)
    order.refresh_from_db()
    assert order.state == "accept:ready"


def test_cancel_revokes_open_vouchers(order, store_manager, voucher):
    services.order_cancel(order=order, actor=store_manager, reason="changed mind")
    voucher = Voucher.objects.get(pk=voucher.pk)
    assert voucher.state == "revoked" and voucher.revoked_at is not None
    event = OrderEvent.objects.get(order=order, kind="voucher.revoked")
    assert event.payload == {"voucher": voucher.pk, "reason": "order_cancelled"}


def test_cancel_leaves_a_redeemed_voucher_redeemed(redeem, store_manager, job, order, code):
    assert redeem(store_manager, code).status_code == 200
    services.order_cancel(order=order, actor=store_manager, reason="x")
    assert voucher_of(order).state == "redeemed"
    assert not OrderEvent.objects.filter(order=order, kind="voucher.revoked").exists()


def _age(voucher, **delta):
    Voucher.objects.filter(pk=voucher.pk).update(valid_until=timezone.now() - timedelta(**delta))


def test_expiry_task_expires_past_vouchers_once(order, voucher, store, consumer2):
    fresh = voucher_of(make_voucher_order(store=store, consumer=consumer2))
    _age(voucher, minutes=1)
    assert tasks.expire_vouchers.delay().get() == 1
    assert tasks.expire_vouchers.delay().get() == 0
    assert Voucher.objects.get(pk=voucher.pk).state == "expired"
    assert Voucher.objects.get(pk=fresh.pk).state == "issued"
    assert OrderEvent.objects.filter(order=order, kind="voucher.expired").count() == 1


def test_expiry_works_in_batches(store, consumer, consumer2, settings):
    from vouchers.services import vouchers_expire_due

    vouchers = [voucher_of(make_voucher_order(store=store, consumer=c)) for c in (consumer, consumer2, consumer)]
    Voucher.objects.filter(pk__in=[v.pk for v in vouchers]).update(valid_until=timezone.now())
    assert vouchers_expire_due(batch_size=2) == 3
    assert set(Voucher.objects.values_list("state", flat=True)) == {"expired"}


def test_expired_voucher_cannot_be_redeemed(redeem, store_manager, job, order, voucher, code):
    _age(voucher, seconds=1)
    tasks.expire_vouchers()
    response = redeem(store_manager, code)
    assert response.json()["code"] == "voucher_expired"


def test_reminder_is_recorded_once_three_days_before_expiry(order, voucher, store, consumer2):
    later = voucher_of(make_voucher_order(store=store, consumer=consumer2))
    Voucher.objects.filter(pk=voucher.pk).update(valid_until=timezone.now() + timedelta(days=2))
    assert tasks.remind_expiring_vouchers() == 1
    assert tasks.remind_expiring_vouchers() == 0
    events = OrderEvent.objects.filter(kind="voucher.expiring")
    assert [e.payload["voucher"] for e in events] == [voucher.pk]
    assert Voucher.objects.get(pk=later.pk).expiry_reminded_at is None
