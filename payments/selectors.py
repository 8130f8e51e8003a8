"""Reads of the payments app: what each order has paid, owes and got back, from the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from payments.models import Installment, LedgerEntry
from payments.money import quantize
from tenancy.scoping import visible_to
from workflows.models import ServiceOrder

ZERO = Decimal("0")
_MONEY = DecimalField(max_digits=14, decimal_places=2)


@dataclass(frozen=True)
class MoneySummary:
    """paid: every charge received; refunded: every refund sent back (so paid - refunded is kept);
    outstanding: what the consumer still owes: the total minus charges on owed installments minus
    installments written off (waived, or cancelled with the order), never below zero."""

    total: Decimal
    paid: Decimal
    refunded: Decimal
    outstanding: Decimal
    currency: str

    def __post_init__(self):
        for name in ("total", "paid", "refunded", "outstanding"):
            object.__setattr__(self, name, quantize(getattr(self, name), self.currency))

    def as_dict(self) -> dict:
        return {"total": str(self.total), "paid": str(self.paid), "refunded": str(self.refunded),
                "net_paid": str(self.paid - self.refunded), "outstanding": str(self.outstanding),
                "currency": self.currency}


def _sum(expr: str, flt: Q):
    return Coalesce(Sum(expr, filter=flt), Value(ZERO), output_field=_MONEY)


def order_money_summary(order: ServiceOrder) -> MoneySummary:
    """Two aggregate queries, whatever the number of installments and ledger rows."""
    written_off = list(Installment.WRITTEN_OFF_STATES)
    ledger = LedgerEntry.objects.filter(order_id=order.pk).aggregate(
        paid=_sum("amount", Q(kind=LedgerEntry.Kind.CHARGE)),
        refunded=_sum("amount", Q(kind=LedgerEntry.Kind.REFUND)),
        owed_paid=_sum("amount", Q(kind=LedgerEntry.Kind.CHARGE) & ~Q(installment__state__in=written_off)),
    )
    off = Installment.objects.filter(order_id=order.pk, state__in=written_off).aggregate(
        s=_sum("amount", Q()))["s"]
    outstanding = max(order.total_amount - ledger["owed_paid"] - off, ZERO)
    return MoneySummary(total=order.total_amount, paid=ledger["paid"], refunded=ledger["refunded"],
                        outstanding=outstanding, currency=order.currency)


def money_summary_from_rows(order: ServiceOrder, installments, entries) -> MoneySummary:
    """The same figures as order_money_summary, from rows already in memory (model instances or
    named rows with id, state, amount; installment_id, kind, amount)."""
    written_off = set(Installment.WRITTEN_OFF_STATES)
    state_of = {i.id: i.state for i in installments}
    paid = sum((e.amount for e in entries if e.kind == LedgerEntry.Kind.CHARGE), ZERO)
    refunded = sum((e.amount for e in entries if e.kind == LedgerEntry.Kind.REFUND), ZERO)
    owed_paid = sum((e.amount for e in entries
                     if e.kind == LedgerEntry.Kind.CHARGE and state_of.get(e.installment_id) not in written_off), ZERO)
    off = sum((i.amount for i in installments if i.state in written_off), ZERO)
    return MoneySummary(total=order.total_amount, paid=paid, refunded=refunded,
                        outstanding=max(order.total_amount - owed_paid - off, ZERO), currency=order.currency)


def installment_list_visible_to(*, user, order_id: int | None = None) -> QuerySet[Installment]:
    qs = visible_to(Installment.objects.select_related("stage__definition", "order"), user)
    if order_id is not None:
        qs = qs.filter(order_id=order_id)
    return qs.order_by("order_id", "position", "pk")
