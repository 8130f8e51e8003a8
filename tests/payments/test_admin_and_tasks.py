from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import LedgerEntry, Payment, WebhookDelivery
from payments.services import installment_pay
from payments.tasks import payments_expire_stale_task
from tests.factories.payments import pay_due_installments
from tests.payments.helpers import inst_of


def test_stale_attempts_expire_and_the_installment_is_payable_again(order, consumer):
    payment = installment_pay(installment=inst_of(order, "booking"), actor=consumer).payment
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(hours=1))

    assert payments_expire_stale_task() == 1
    assert payments_expire_stale_task() == 0

    assert Payment.objects.get(pk=payment.pk).status == "expired"
    assert inst_of(order, "booking").state == "due"


def test_ledger_is_append_only(order):
    pay_due_installments(order)
    entry = LedgerEntry.objects.get()
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=1)
    with pytest.raises(TypeError):
        entry.delete()


@pytest.mark.parametrize("who, deliveries, ledger", [
    ("operator", 200, 200), ("merchant_admin", 403, 200), ("other_admin", 403, 200),
])
def test_admin_records_are_read_only_and_deliveries_operator_only(client, request, order, who, deliveries, ledger):
    pay_due_installments(order)
    user = request.getfixturevalue(who)
    client.force_login(user)

    assert client.get("/admin/payments/webhookdelivery/").status_code == deliveries
    response = client.get("/admin/payments/ledgerentry/")
    assert response.status_code == ledger
    entry = LedgerEntry.objects.get()
    shown = str(entry.pk) in response.content.decode() and order.number in response.content.decode()
    assert shown == (who != "other_admin")
    assert client.get("/admin/payments/ledgerentry/add/").status_code == 403
    assert WebhookDelivery.objects.count() == 1
