"""Asking the providers: open attempts whose notification was lost, and a day's ledger against their answers."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from payments.models import LedgerEntry, Payment, ReconciliationRun
from payments.services import installment_pay, payments_query_pending
from payments.services.checkout import Payer
from payments.tasks import payments_expire_stale_task, payments_reconcile_yesterday_task
from tests.payments.helpers import inst_of
from workflows.models import OrderEvent


def _open(order, consumer, channel="wechat_native") -> Payment:
    return installment_pay(installment=inst_of(order, "booking"), actor=consumer, channel=channel,
                           payer=Payer()).payment


def _age(payment, minutes):
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(minutes=minutes))


def test_the_query_job_settles_attempts_due_and_backs_off_on_waiting(wechatpay, order, consumer, settings):
    payment = _open(order, consumer)
    assert payments_query_pending() == 0 and wechatpay.calls.count(("GET", f"/v3/pay/transactions/out-trade-no/"
                                                                           f"{payment.reference}")) == 0
    _age(payment, settings.PAYMENT_QUERY_AFTER_MINUTES + 1)

    assert payments_query_pending() == 0  # asked: still NOTPAY
    payment.refresh_from_db()
    assert payment.waiting_answers == 1 and payment.next_query_at > timezone.now()
    assert payments_query_pending() == 0  # not due again yet: not asked
    assert sum(1 for c in wechatpay.calls if c[0] == "GET") == 1

    wechatpay.pay(payment.reference)
    Payment.objects.filter(pk=payment.pk).update(next_query_at=timezone.now())
    assert payments_query_pending() == 1
    assert Payment.objects.get(pk=payment.pk).status == "captured"
    assert list(LedgerEntry.objects.filter(order=order).values_list("amount", flat=True)) == [Decimal("1200.00")]


def test_expiry_asks_first_and_captures_a_paid_attempt(wechatpay, order, consumer, settings):
    payment = _open(order, consumer)
    wechatpay.pay(payment.reference)
    _age(payment, settings.PAYMENT_ATTEMPT_TTL_MINUTES + 1)

    assert payments_expire_stale_task() == 0
    assert Payment.objects.get(pk=payment.pk).status == "captured"


def test_expiry_keeps_an_attempt_open_while_the_provider_cannot_be_asked(wechatpay, order, consumer, settings):
    payment = _open(order, consumer)
    wechatpay.down = True
    _age(payment, settings.PAYMENT_ATTEMPT_TTL_MINUTES + 1)

    assert payments_expire_stale_task() == 0
    assert Payment.objects.get(pk=payment.pk).status == "pending"
    wechatpay.down = False
    assert payments_expire_stale_task() == 1  # NOTPAY: expired now
    assert Payment.objects.get(pk=payment.pk).status != "pending"


def test_reconcile_command_reports_a_payment_paid_but_not_booked(wechatpay, order, consumer):
    payment = _open(order, consumer)
    wechatpay.pay(payment.reference)  # paid at WeChat Pay; the notification never came
    out = StringIO()

    call_command("reconcile_payments", "--date", timezone.localdate().isoformat(), stdout=out)

    assert "paid_not_booked" in out.getvalue() and f"payment {payment.pk}" in out.getvalue()
    run = ReconciliationRun.objects.get()
    assert run.difference_count == 1 and run.payments_checked == 1 and run.finished_at
    assert OrderEvent.objects.filter(order=order, kind="payment.reconciliation_difference").count() == 1
    # Run again: reported again, recorded on the order once.
    call_command("reconcile_payments", "--date", timezone.localdate().isoformat(), stdout=StringIO())
    assert OrderEvent.objects.filter(order=order, kind="payment.reconciliation_difference").count() == 1


def test_reconcile_of_an_agreeing_day_finds_nothing(wechatpay, order, consumer, client):
    payment = _open(order, consumer)
    wechatpay.pay(payment.reference)
    body, headers = wechatpay.payment_notification(payment.reference)
    client.post(f"/api/v1/payments/notify/wechatpay/{wechatpay.account.pk}/", body, content_type="application/json",
                **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})
    out = StringIO()
    call_command("reconcile_payments", "--date", timezone.localdate().isoformat(), stdout=out)
    assert "DIFFERENCE" not in out.getvalue() and ReconciliationRun.objects.get().difference_count == 0


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "0001-01-01"])
def test_reconcile_command_refuses_a_bad_date(db, value):
    with pytest.raises(CommandError):
        call_command("reconcile_payments", "--date", value, stdout=StringIO())


def test_the_daily_job_reconciles_yesterday_once(db):
    payments_reconcile_yesterday_task()
    payments_reconcile_yesterday_task()
    assert list(ReconciliationRun.objects.values_list("day", flat=True)) == [
        timezone.localdate() - timedelta(days=1)]
