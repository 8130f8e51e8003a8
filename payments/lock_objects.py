"""Row locks of the payments app. Lock order, everywhere: the order (workflows.engine.lock_order),
then its installments (pk order), then payments (pk order), then refunds."""

from payments.models import Installment, Payment, Refund


def installment_qs_select_for_update():
    return Installment.objects.order_by("pk").select_for_update(of=("self",))


def payment_qs_select_for_update():
    return Payment.objects.order_by("pk").select_for_update(of=("self",))


def refund_qs_select_for_update():
    return Refund.objects.order_by("pk").select_for_update(of=("self",))
