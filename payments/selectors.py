"""Reads of the payments app: what each order has paid, owes and got back, from the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

from django.db.models import DecimalField, Prefetch, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from core import display
from core.filters import parse_id
from core.money import quantize
from payments.models import Installment, LedgerEntry, PaymentAccount, PriceRevision
from payments.rollup import ledger_sums, open_money
from tenancy.scoping import visible_to
from workflows.models import ServiceOrder

ZERO = Decimal("0")
_MONEY = DecimalField(max_digits=14, decimal_places=2)


@dataclass(frozen=True)
class MoneySummary:
    """paid: every charge received; refunded: every refund sent back (so paid - refunded is kept);
    outstanding: what the consumer still owes: the total minus what was charged for each owed
    installment, up to its amount, minus installments written off (waived, or cancelled with the
    order), never below zero."""

    total: Decimal
    paid: Decimal
    refunded: Decimal
    outstanding: Decimal
    currency: str

    def __post_init__(self):
        for name in ("total", "paid", "refunded", "outstanding"):
            object.__setattr__(self, name, quantize(getattr(self, name), self.currency))

    @property
    def net_paid(self) -> Decimal:
        """What the consumer paid and did not get back."""
        return self.paid - self.refunded

    def as_dict(self) -> dict:
        return {"total": str(self.total), "paid": str(self.paid), "refunded": str(self.refunded),
                "net_paid": str(self.net_paid), "outstanding": str(self.outstanding),
                "currency": self.currency}


def _sum(expr: str, flt: Q):
    return Coalesce(Sum(expr, filter=flt), Value(ZERO), output_field=_MONEY)


def _summary(order: ServiceOrder, installments, charged: dict[int, Decimal], refunded: Decimal) -> MoneySummary:
    """installments: rows with id, state, amount; charged: the charges per installment id."""
    written_off = set(Installment.WRITTEN_OFF_STATES)
    # An installment covers at most its own amount: a second capture of it (sent back as unowed) is
    # not money towards the rest of the order.
    covered = sum((min(charged.get(i.id, ZERO), i.amount) for i in installments if i.state not in written_off), ZERO)
    off = sum((i.amount for i in installments if i.state in written_off), ZERO)
    return MoneySummary(total=order.total_amount, paid=sum(charged.values(), ZERO), refunded=refunded,
                        outstanding=max(order.total_amount - covered - off, ZERO), currency=order.currency)


def order_money_summary(order: ServiceOrder) -> MoneySummary:
    """One grouped query (a row per installment), whatever the number of ledger rows."""
    rows = list(Installment.objects.filter(order_id=order.pk).values("id", "state", "amount").annotate(
        charged=_sum("ledger_entries__amount", Q(ledger_entries__kind=LedgerEntry.Kind.CHARGE)),
        refunded=_sum("ledger_entries__amount", Q(ledger_entries__kind=LedgerEntry.Kind.REFUND))))
    installments = [SimpleNamespace(**r) for r in rows]
    return _summary(order, installments, {r["id"]: r["charged"] for r in rows},
                    sum((r["refunded"] for r in rows), ZERO))


def money_summary_from_rows(order: ServiceOrder, installments, entries) -> MoneySummary:
    """The same figures as order_money_summary, from rows already in memory (model instances or
    named rows with id, state, amount; installment_id, kind, amount)."""
    charged: dict[int, Decimal] = {}
    refunded = ZERO
    for e in entries:
        if e.kind == LedgerEntry.Kind.CHARGE:
            charged[e.installment_id] = charged.get(e.installment_id, ZERO) + e.amount
        elif e.kind == LedgerEntry.Kind.REFUND:
            refunded += e.amount
    return _summary(order, installments, charged, refunded)


def installments_with_channels(queryset: QuerySet[Installment] | None = None) -> QuerySet[Installment]:
    """Installments with what their `channels` need: the order's brand and its active payment accounts (one
    query for all of them, whatever the number of installments)."""
    queryset = Installment.objects.all() if queryset is None else queryset
    accounts = PaymentAccount.objects.filter(active=True).only("pk", "merchant_id", "provider")
    return queryset.select_related("stage__definition", "order__merchant").prefetch_related(
        Prefetch("order__merchant__payment_accounts", queryset=accounts, to_attr="active_payment_accounts"))


def payment_account_for_notification(*, provider: str, account_id: str) -> PaymentAccount | None:
    """The account a provider's notification URL names (active or not: payments made before it was switched off
    still settle); None for anything else."""
    pk = parse_id(account_id)
    if pk is None:
        return None
    return PaymentAccount.objects.filter(pk=pk, provider=provider).first()


def installment_list_visible_to(*, user, order_id: int | None = None) -> QuerySet[Installment]:
    qs = visible_to(Installment.objects.select_related("stage__definition", "order"), user)
    if order_id is not None:
        qs = qs.filter(order_id=order_id)
    return qs.order_by("order_id", "position", "pk")


def money_figures(orders: QuerySet, start=None, end=None, *, days: dict | None = None, scope=None) -> list[dict]:
    """The platform report's money, per currency (amounts in different currencies are never added up): paid and
    refunded are ledger entries made in [start, end) (`days`: their sums over the window from the platform's
    roll-up, {"charge:EUR": [entries, sum], ...}; None: read live); outstanding and due now are a snapshot of the
    open installments of the active orders, whatever the period, as of `outstanding_as_of` (the roll-up job's
    snapshot; None: read now) (payments.rollup)."""
    if days is None:
        days = ledger_sums(orders, start, end)
    by_currency: dict[str, dict] = {}
    for key, (_n, total) in days.items():
        kind, currency = key.split(":", 1)
        slot = by_currency.setdefault(currency, {})
        name = "paid" if kind == LedgerEntry.Kind.CHARGE else "refunded"
        slot[name] = slot.get(name, ZERO) + (total or ZERO)
    owed, as_of = open_money(orders, scope)
    for currency, (outstanding, due) in owed.items():
        by_currency.setdefault(currency, {}).update(outstanding=outstanding, due_now=due)

    def money(value, currency: str) -> str:
        return str(quantize(Decimal(value or 0), currency))

    return [
        {"currency": cur, "paid": money(v.get("paid"), cur), "refunded": money(v.get("refunded"), cur),
         "net_paid": money((v.get("paid") or 0) - (v.get("refunded") or 0), cur),
         "outstanding": money(v.get("outstanding"), cur), "due_now": money(v.get("due_now"), cur),
         "outstanding_as_of": timezone.localtime(as_of).isoformat() if as_of else None}
        for cur, v in sorted(by_currency.items())
    ]


def revisions_for_the_day(*, user, store, now) -> list[tuple[ServiceOrder, str]]:
    """The store's price revisions a person there should know of, for the store's day: open ones (waiting for the
    consumer's answer) and ones the consumer declined in the last 14 days (to talk over), newest first, within
    `user`'s scope. One query."""
    revisions = (visible_to(PriceRevision.objects.all(), user)
                 .filter(order__store=store, order__status=ServiceOrder.Status.ACTIVE)
                 .filter(Q(status=PriceRevision.Status.OPEN)
                         | Q(status=PriceRevision.Status.DECLINED, answered_at__gte=now - timedelta(days=14)))
                 .select_related("order").order_by("-created_at", "-pk")[:50])
    words = {PriceRevision.Status.OPEN: _("price revision to %(total)s waiting for the consumer"),
             PriceRevision.Status.DECLINED: _("price revision to %(total)s declined by the consumer")}
    return [(r.order, words[r.status] % {"total": display.money(r.new_total, r.currency)}) for r in revisions]
