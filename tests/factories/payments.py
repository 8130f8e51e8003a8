"""Payment helpers for tests of every app: move an order forward by paying what is due through the
real sandbox path (start a payment, then the signed webhook the sandbox checkout sends)."""

from payments.models import Installment, Payment
from payments.services import installment_pay, sandbox_checkout_complete


def pay_installment(installment: Installment, *, actor=None, outcome: str = "paid") -> Payment:
    payment = installment_pay(installment=installment, actor=actor or installment.order.consumer).payment
    sandbox_checkout_complete(payment=payment, outcome=outcome)
    return Payment.objects.get(pk=payment.pk)


def pay_due_installments(order, *, actor=None) -> list[Payment]:
    """Pay every due (or failed) installment of the order, until none is left to pay."""
    paid: list[Payment] = []
    for _ in range(20):
        payable = list(Installment.objects.filter(order_id=order.pk, state__in=Installment.PAYABLE_STATES)
                       .select_related("order__consumer").order_by("position"))
        if not payable:
            break
        for inst in payable:
            paid.append(pay_installment(inst, actor=actor))
    order.refresh_from_db()
    return paid
