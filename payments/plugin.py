"""How payments plug into the stage engine (`register()`, called by PaymentsConfig.ready()).

- effects: installments are made when the order is created and fall due when the engine reaches their
  stage; cancelling the order cancels what is unpaid and refunds what the template's rule says;
- guards: a gated stage opens ("unblock") only when its installments are paid, and the order completes
  ("settle") only when every installment is;
- order detail sections "installments" and "money" (one query for all the orders: installments LEFT
  JOIN their ledger rows, plain values), so the detail costs the same for 1 or 30 orders, 4 or 40 stages;
  "payment_channels": the channels the order's brand offers for its currency (read with the order row: one EXISTS
  per provider annotated on it, so no query of its own; an account changed shows within the detail cache's
  lifetime).
"""

from __future__ import annotations

from collections import namedtuple
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from core import display
from core.compiled import CompiledQuery
from core.fields import MoneyDisplayField
from core.money import quantize
from payments import (
    admin_page,
    events,  # noqa: F401 - declares the payments' event kinds
)
from payments.channels import CHANNELS, channels_for
from payments.models import Installment, PaymentAccount
from payments.rollup import ledger_day_rows, take_open_money_snapshot
from payments.selectors import money_figures, money_summary_from_rows, revisions_for_the_day
from payments.services import installments_allocate, installments_cancel, installments_make_due
from payments.services.allocation import STAGE_ROWS, gating_remembered, stage_row
from workflows import hooks
from workflows.hooks import OrderDetailRows, TransitionContext
from workflows.models import ServiceOrder, StageInstance

ZERO = Decimal("0")


# --- guards --------------------------------------------------------------------------------------


def guard_unblock(order: ServiceOrder, stage: StageInstance | None) -> str | None:
    """A gated stage opens only when every installment gating it is paid (or waived)."""
    if stage is None:
        return None
    gating = gating_remembered(order, stage)  # the ones the step that made them due just locked: no read
    if gating is None:  # one read: the stage's 'before' installment and the 'after' one of the stage before it
        prev = StageInstance.objects.filter(order_id=order.pk, position__lt=stage.position).order_by("-position")
        gating = Installment.objects.filter(
            Q(stage_id=stage.pk, timing=Installment.Timing.BEFORE)
            | Q(stage_id=Subquery(prev.values("pk")[:1]), timing=Installment.Timing.AFTER), order_id=order.pk)
    unpaid = [i for i in gating if i.state not in Installment.SETTLED_STATES]
    if unpaid:
        owed = sum((i.amount for i in unpaid), ZERO)
        return _("Waiting for payment of %(amount)s.") % {"amount": display.money(owed, unpaid[0].currency)}
    return None


def guard_settle(order: ServiceOrder, stage: StageInstance | None) -> str | None:
    unpaid = list(Installment.objects.filter(order_id=order.pk).exclude(state__in=Installment.SETTLED_STATES))
    if unpaid:
        owed = sum((i.amount for i in unpaid), ZERO)
        return _("Waiting for the final payment of %(amount)s.") % {"amount": display.money(owed, unpaid[0].currency)}
    return None


# --- effects -------------------------------------------------------------------------------------


def allocate_on_create(ctx: TransitionContext) -> None:
    installments_allocate(ctx.order)


def make_due(ctx: TransitionContext) -> None:
    """Entering "<code>:waiting_payment" or "closing" makes installments due (installments_make_due)."""
    installments_make_due(ctx.order, to_state=ctx.to_state, actor=ctx.actor)


def cancel_and_refund(ctx: TransitionContext) -> None:
    installments_cancel(ctx.order, actor=ctx.actor)


# --- overdue installments (the platform's SLA scan) ------------------------------------------------------------


def scan_installments_overdue(now, batch_size: int, record) -> int:
    """Installments due and unpaid longer than INSIGHTS_INSTALLMENT_OVERDUE_HOURS (72) since `due_at`: each is handed
    to the platform's breach recorder once (`overdue_reported_at` keeps the scan to new ones: a partial index)."""
    hours = getattr(settings, "INSIGHTS_INSTALLMENT_OVERDUE_HOURS", 72)
    candidates = (Installment.objects
                  .filter(state=Installment.State.DUE, due_at__lt=now - timedelta(hours=hours),
                          overdue_reported_at__isnull=True, order__status=ServiceOrder.Status.ACTIVE)
                  .only("pk", "order_id", "stage_id", "due_at", "amount"))
    # Keyset in (due_at, pk) order, the order of the partial index (payments 0004): walking the primary key instead
    # made PostgreSQL read every installment (2.8 s at 10^6 orders with nothing to record).
    found, last = 0, None
    while batch := list((candidates if last is None else candidates.filter(
            Q(due_at__gt=last[0]) | Q(due_at=last[0], pk__gt=last[1]))).order_by("due_at", "pk")[:batch_size]):
        for inst in batch:
            def still(order, inst=inst):
                return Installment.objects.filter(pk=inst.pk, state=Installment.State.DUE).exists()
            recorded = record(kind="installment_overdue", order_id=inst.order_id, stage_id=inst.stage_id,
                              installment_id=inst.pk, due_at=inst.due_at + timedelta(hours=hours), now=now,
                              still_breached=still, details={"amount": str(inst.amount)})
            if recorded:
                found += Installment.objects.filter(pk=inst.pk, overdue_reported_at__isnull=True).update(
                    overdue_reported_at=now)
        last = (batch[-1].due_at, batch[-1].pk)
    return found


def installment_still_overdue(installment_id: int) -> bool:
    """For the escalation of an installment_overdue breach: the installment is still unpaid."""
    return Installment.objects.filter(pk=installment_id, state=Installment.State.DUE).exists()


# --- order detail sections -----------------------------------------------------------------------

_INSTALLMENT_FIELDS = ("id", "order_id", "stage_id", "amount", "currency", "timing", "state", "due_at", "paid_at")
_Installment = namedtuple("_Installment", _INSTALLMENT_FIELDS)
_LedgerRow = namedtuple("_LedgerRow", ("installment_id", "kind", "amount"))
PaymentRows = namedtuple("PaymentRows", ("installments", "ledger"))


_DETAIL_INSTALLMENTS = CompiledQuery("detail.installments", lambda ids: (
    Installment.objects.filter(order_id__in=ids).order_by("position", "pk", "ledger_entries__id")
    .values_list(*_INSTALLMENT_FIELDS, "ledger_entries__kind", "ledger_entries__amount")))


def load(details: list[OrderDetailRows]) -> dict[int, PaymentRows]:
    """Each order's installments (in position order) and ledger rows, from one query (installments LEFT
    JOIN their ledger rows). Installments are only made for stages carrying a payment share or amount
    (installments_allocate) and every ledger row belongs to one: an order without such a stage costs no
    query."""
    loaded = {d.order.pk: PaymentRows([], []) for d in details}
    ids = [d.order.pk for d in details if _pays(d)]
    if ids:
        rows = _DETAIL_INSTALLMENTS.rows(ids=ids)
        last = None
        for *fields, kind, amount in rows:
            if last is None or last.id != fields[0]:
                last = _Installment(*fields)
                loaded[last.order_id].installments.append(last)
            if kind is not None:
                loaded[last.order_id].ledger.append(_LedgerRow(last.id, kind, amount))
    return loaded


def serialize_installments(detail: OrderDetailRows, request=None) -> list[dict]:
    codes = {s["id"]: s["definition__code"] for s in detail.stages}
    return [{
        "id": i.id, "stage": i.stage_id, "stage_code": codes[i.stage_id], "amount": str(quantize(i.amount, i.currency)),
        "amount_display": display.money(i.amount, i.currency), "currency": i.currency, "timing": i.timing,
        "state": i.state,
        "due_at": i.due_at.isoformat() if i.due_at else None,
        "paid_at": i.paid_at.isoformat() if i.paid_at else None,
    } for i in detail.sections["installments"].installments]


def serialize_money(detail: OrderDetailRows, request=None) -> dict:
    """Reads the rows the installments section loaded."""
    rows = detail.sections["installments"]
    return money_summary_from_rows(detail.order, rows.installments, rows.ledger).as_dict()


def _pays(detail: OrderDetailRows) -> bool:
    """Whether a stage of the order carries a share or a fixed amount (StageDefinition.carries_payment)."""
    return any((s["definition__payment_share"] or 0) > 0 or (s["definition__payment_amount"] or 0) > 0
               for s in detail.stages)


# The providers a channel can be offered for; an account of any other provider offers no channel (channels_for).
_PROVIDERS = sorted({c.provider for c in CHANNELS.values()})


def _account_flag(provider: str) -> str:
    return f"payments_account_{provider}"


def annotate_channels() -> dict:
    """Whether the order's brand has an active account of each provider, read with the order row."""
    return {_account_flag(p): Exists(PaymentAccount.objects.filter(merchant_id=OuterRef("merchant_id"), active=True,
                                                                   provider=p)) for p in _PROVIDERS}


def load_channels(details: list[OrderDetailRows]) -> dict[int, list[str]]:
    """The providers of each order's brand's active accounts (none for an order without a paying stage): from the
    order row's annotations (annotate_channels), or one query for the orders read without them."""
    paying = [d for d in details if _pays(d)]
    flags = [_account_flag(p) for p in _PROVIDERS]
    if all(hasattr(d.order, flag) for d in paying for flag in flags):
        return {d.order.pk: [p for p in _PROVIDERS if getattr(d.order, _account_flag(p))] for d in paying}
    merchants = {d.order.merchant_id for d in paying}
    providers: dict[int, list[str]] = {}
    if merchants:
        for merchant_id, provider in (PaymentAccount.objects.filter(merchant_id__in=merchants, active=True)
                                      .values_list("merchant_id", "provider")):
            providers.setdefault(merchant_id, []).append(provider)
    return {d.order.pk: providers.get(d.order.merchant_id, []) for d in paying}


def serialize_channels(detail: OrderDetailRows, request=None) -> list[str]:
    if not _pays(detail):
        return []
    return channels_for(detail.sections["payment_channels"] or [], detail.order.currency)


# What the sections look like, for the published OpenAPI schema (the bodies above are built by hand).
_AMOUNT = {"max_digits": 14, "decimal_places": 2}


class InstallmentSection(serializers.Serializer):
    """One installment in the order detail: what is due for which stage, and where it stands."""

    id = serializers.IntegerField()
    stage = serializers.IntegerField()
    stage_code = serializers.CharField()
    amount = serializers.DecimalField(**_AMOUNT)
    amount_display = serializers.CharField(help_text=MoneyDisplayField().help_text)
    currency = serializers.CharField()
    timing = serializers.ChoiceField(choices=Installment.Timing.choices)
    state = serializers.ChoiceField(choices=Installment.State.choices)
    due_at = serializers.DateTimeField(allow_null=True)
    paid_at = serializers.DateTimeField(allow_null=True)


class MoneySection(serializers.Serializer):
    """The order's money at a glance: paid and refunded come from the ledger; outstanding is what is still owed."""

    total = serializers.DecimalField(**_AMOUNT)
    paid = serializers.DecimalField(**_AMOUNT)
    refunded = serializers.DecimalField(**_AMOUNT)
    net_paid = serializers.DecimalField(**_AMOUNT)
    outstanding = serializers.DecimalField(**_AMOUNT)
    currency = serializers.CharField()


def register() -> None:
    hooks.register_effect("create", allocate_on_create)
    # Entering a stage that waits for money, or "closing", follows these triggers.
    hooks.register_effect(("create", "complete", "approve"), make_due)
    for timing, name in STAGE_ROWS.items():  # ... with the installments it makes due read along with the stages
        hooks.register_stage_row(name, stage_row(timing))
    hooks.register_effect("cancel", cancel_and_refund)
    hooks.register_day_list("price_revisions", heading=gettext_lazy("Price revisions waiting or declined"),
                            load=revisions_for_the_day, position=50)
    hooks.register_sla_scan("installment_overdue", scan_installments_overdue)
    hooks.register_sla_still_overdue("installment_overdue", installment_still_overdue)
    # Paid and refunded rolled up per day with the platform's figures, what is owed as a snapshot (payments.rollup).
    hooks.register_order_figure("payments", money_figures, day_rows=ledger_day_rows, job=take_open_money_snapshot)
    hooks.register_guard("unblock", guard_unblock)
    hooks.register_guard("settle", guard_settle)
    hooks.register_order_section("installments", load=load, serialize=serialize_installments,
                                 schema=lambda: InstallmentSection(many=True, read_only=True))
    # Reads the rows the installments section loads.
    hooks.register_order_section("money", serialize=serialize_money, schema=lambda: MoneySection(read_only=True))
    hooks.register_admin_section("payments", title=admin_page.TITLE, load=admin_page.load, render=admin_page.render,
                                 position=10)
    hooks.register_order_section("payment_channels", load=load_channels, serialize=serialize_channels,
                                 annotate=annotate_channels,
                                 schema=lambda: serializers.ListField(
                                     child=serializers.ChoiceField(choices=list(CHANNELS)), read_only=True,
                                     help_text="The channels the brand offers for the order's currency (pay/'s "
                                               "`channel`)."))
