"""The payments app's part in the platform's roll-up (workflows.hooks.register_order_figure's day_rows and job),
so the metrics' money figure reads days and a snapshot, not every ledger row and open installment.

- Paid and refunded: ledger entries are immutable and dated when written, so `ledger_day_rows` gives their sums
  per day, merchant, store and currency (key "charge:EUR", "refund:EUR"; count = entries, total = the exact sum).
  insights' roll-up keeps them per day with its own figures; a window adds the rolled days and the live rest.
- Outstanding and due now are a snapshot of now (the open installments of the active orders), which no day holds:
  `take_open_money_snapshot` (run by the same job, every 15 minutes) writes them per store and currency in
  OpenMoney; a request reads those rows when the snapshot is at most PAYMENTS_OPEN_MONEY_MAX_AGE_MINUTES (30) old,
  and says how old with `outstanding_as_of`. Otherwise (no snapshot yet, the job stopped, a technician filter:
  the snapshot is not per technician) it reads the open installments live, as of the request
  (`outstanding_as_of` null).

Sums are taken in minor units (cents) as integers, so they are exact on SQLite too (whose decimals are floats);
amounts have at most 2 decimal places (workflows.models.MONEY).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import BigIntegerField, Count, F, Q, QuerySet, Sum
from django.db.models.functions import Cast, Round, TruncDate
from django.utils import timezone

from payments.models import Installment, LedgerEntry, OpenMoney, OpenMoneySnapshot
from tenancy.scoping import visible_to
from workflows.models import ServiceOrder

HUNDRED = Decimal(100)


def cents_sum(field: str, flt: Q | None = None) -> Sum:
    """The exact sum of a money column, in cents (an integer): divide by 100 with `amount()`."""
    return Sum(Cast(Round(F(field) * 100), BigIntegerField()), filter=flt)


def amount(cents) -> Decimal:
    return Decimal(cents or 0) / HUNDRED


def _entries(orders: QuerySet, start: datetime | None, end: datetime | None) -> QuerySet[LedgerEntry]:
    entries = LedgerEntry.objects.filter(order__in=orders)
    if start is not None:
        entries = entries.filter(created_at__gte=start)
    if end is not None:
        entries = entries.filter(created_at__lt=end)
    return entries


def ledger_sums(orders: QuerySet, start: datetime | None, end: datetime | None) -> dict[str, list]:
    """The same sums over the whole window, read live: {"kind:currency": [entries, exact sum]}. One query."""
    grouped = _entries(orders, start, end).values("kind", "currency").order_by().annotate(
        n=Count("pk"), cents=cents_sum("amount"))
    return {f"{r['kind']}:{r['currency']}": [r["n"], amount(r["cents"])] for r in grouped}


def ledger_day_rows(orders: QuerySet, start: datetime | None, end: datetime | None, tz) -> list[tuple]:
    """The ledger entries of `orders` made in [start, end): (day in tz, merchant id, store id, "kind:currency",
    entries, exact sum) rows. One grouped query."""
    grouped = _entries(orders, start, end).values(
        "kind", "currency", d=TruncDate("created_at", tzinfo=tz), m=F("order__merchant_id"), s=F("order__store_id"),
    ).order_by().annotate(n=Count("pk"), cents=cents_sum("amount"))
    return [(r["d"], r["m"], r["s"], f"{r['kind']}:{r['currency']}", r["n"], amount(r["cents"])) for r in grouped]


def _open_installments() -> QuerySet[Installment]:
    return Installment.objects.filter(order__status=ServiceOrder.Status.ACTIVE, state__in=Installment.OPEN_STATES)


def _owed(qs: QuerySet[Installment], *group, **named) -> QuerySet:
    return qs.values(*group, **named).order_by().annotate(
        outstanding=cents_sum("amount"), due=cents_sum("amount", ~Q(state=Installment.State.SCHEDULED)))


def take_open_money_snapshot(now: datetime | None = None) -> int:
    """Replace the snapshot with the open installments of the active orders now, per store and currency (the job:
    insights' roll-up). Returns the number of rows."""
    with transaction.atomic():
        snapshot = OpenMoneySnapshot.objects.select_for_update().first()
        taken_at = timezone.now() if now is None else now
        rows = list(_owed(_open_installments(), "currency", m=F("order__merchant_id"), s=F("order__store_id")))
        OpenMoney.objects.all().delete()
        OpenMoney.objects.bulk_create(
            [OpenMoney(merchant_id=r["m"], store_id=r["s"], currency=r["currency"],
                       outstanding=amount(r["outstanding"]), due_now=amount(r["due"])) for r in rows], batch_size=2000)
        OpenMoneySnapshot.objects.update_or_create(pk=snapshot.pk if snapshot else None,
                                                   defaults={"taken_at": taken_at})
        return len(rows)


def max_age() -> timedelta:
    return timedelta(minutes=getattr(settings, "PAYMENTS_OPEN_MONEY_MAX_AGE_MINUTES", 30))


def open_money(orders: QuerySet, scope=None) -> tuple[dict[str, tuple[Decimal, Decimal]], datetime | None]:
    """{currency: (outstanding, due now)} of the scope's active orders and the moment it holds for: the snapshot's
    rows in the scope (visible_to, like the orders) and its time when it is recent enough and the scope is not a
    technician's (two queries); else the open installments of `orders` read now, and None (one query)."""
    now = timezone.now()
    if scope is not None and scope.technician is None:
        snapshot = OpenMoneySnapshot.objects.first()
        if snapshot is not None and snapshot.taken_at >= now - max_age():
            rows = visible_to(OpenMoney.objects.all(), scope.user)
            if scope.merchant is not None:
                rows = rows.filter(merchant=scope.merchant)
            if scope.store is not None:
                rows = rows.filter(store=scope.store)
            summed = rows.values("currency").order_by().annotate(o=cents_sum("outstanding"), d=cents_sum("due_now"))
            return {r["currency"]: (amount(r["o"]), amount(r["d"])) for r in summed}, snapshot.taken_at
    owed = _owed(_open_installments().filter(order__in=orders), "currency")
    return {r["currency"]: (amount(r["outstanding"]), amount(r["due"])) for r in owed}, None

