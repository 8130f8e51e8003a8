"""The order page's money part (workflows.hooks.register_admin_section): installments, payment attempts with
their channel and status, refunds, and a refund button on each captured payment."""

from __future__ import annotations

from collections import namedtuple

from django.template.loader import render_to_string
from django.utils.translation import gettext_lazy

from payments.models import Installment, Payment, Refund
from workflows.admin.common import staff_may
from workflows.hooks import OrderDetailRows

TITLE = gettext_lazy("Payments and refunds")
_PAYMENT = ("id", "order_id", "installment_id", "provider", "amount", "currency", "status", "created_at",
            "captured_at")
_REFUND = ("id", "payment_id", "payment__order_id", "amount", "currency", "status", "reason", "created_at",
           "settled_at")
Rows = namedtuple("Rows", ("payments", "refunds"))
REFUNDABLE = (Payment.Status.CAPTURED, Payment.Status.PARTIALLY_REFUNDED)


def load(details: list[OrderDetailRows]) -> dict[int, Rows]:
    """The orders' payment attempts and refunds: two queries for all the orders (none without installments)."""
    loaded = {d.order.pk: Rows([], []) for d in details}
    ids = [d.order.pk for d in details if d.sections.get("installments") and d.sections["installments"].installments]
    if ids:
        for row in Payment.objects.filter(order_id__in=ids).order_by("pk").values_list(*_PAYMENT, named=True):
            loaded[row.order_id].payments.append(row)
        for row in (Refund.objects.filter(payment__order_id__in=ids).order_by("pk")
                    .values_list(*_REFUND, named=True)):
            loaded[row.payment__order_id].refunds.append(row)
    return loaded


def render(detail: OrderDetailRows, request) -> str:
    installments = detail.sections["installments"].installments if detail.sections.get("installments") else []
    if not installments:
        return ""
    rows: Rows = detail.sections["admin:payments"]
    names = {s["id"]: s["definition__name"] for s in detail.stages}
    stage_of = {i.id: names.get(i.stage_id, "") for i in installments}
    refunded: dict[int, object] = {}
    for r in rows.refunds:
        if r.status in Refund.COUNTED_STATUSES:
            refunded[r.payment_id] = refunded.get(r.payment_id, 0) + r.amount
    may_refund = staff_may(request, "refund")
    revisable = (detail.order.status == detail.order.Status.ACTIVE and staff_may(request, "revision.propose")
                 and any(i.state in Installment.OPEN_STATES for i in installments))
    return render_to_string("admin/payments/order_section.html", {
        "installments": [{"stage": stage_of[i.id], "amount": i.amount, "currency": i.currency,
                          "timing": Installment.Timing(i.timing).label, "state": i.state,
                          "state_words": Installment.State(i.state).label, "paid_at": i.paid_at}
                         for i in installments],
        "payments": [{"id": p.id, "stage": stage_of.get(p.installment_id, ""), "channel": p.provider,
                      "amount": p.amount, "currency": p.currency, "status": p.status,
                      "status_words": Payment.Status(p.status).label, "created_at": p.created_at,
                      "refunded": refunded.get(p.id, 0),
                      "can_refund": may_refund and p.status in REFUNDABLE and refunded.get(p.id, 0) < p.amount}
                     for p in rows.payments],
        "refunds": [{"id": r.id, "amount": r.amount, "currency": r.currency, "status": r.status,
                     "status_words": Refund.Status(r.status).label, "reason": r.reason, "created_at": r.created_at}
                    for r in rows.refunds],
        "order": detail.order,
        "revisable": revisable,
    }, request=request)
