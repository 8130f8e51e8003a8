"""Price revisions (增减项): store staff propose a new total with the line items that explain the change; the
order's consumer accepts or declines. Accepting re-splits what is still unpaid over the new remaining amount by the
template's shares (`revision_split`, the one place that decides the amounts), keeps what is paid as it is, and asks
back the difference when the new total is below what was paid. One open revision per order at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core import display, money
from core.errors import Conflict, DomainError, InvalidTransition, PermissionDeniedError
from payments import events
from payments.lock_objects import installment_qs_select_for_update
from payments.models import Installment, Payment, PriceRevision
from payments.services.refunds import refunds_request_locked
from tenancy import policy
from workflows import engine
from workflows.models import ServiceOrder
from workflows.services import pause_sla_clock, resume_sla_clock

I = Installment.State  # noqa: E741
R = PriceRevision.Status
ZERO = Decimal("0")
# Installments a revision re-splits: nothing is paid on them yet. PROCESSING counts for the preview, but an
# acceptance waits until the attempt is settled (revision_accept).
RESPLIT_STATES = (I.SCHEDULED, I.DUE, I.FAILED, I.PROCESSING)
MAX_LINES = 50


@dataclass(frozen=True)
class SplitRow:
    """One installment as the split sees it: its amount, its stage's share, and whether it is still unpaid."""

    amount: Decimal
    share: Decimal
    unpaid: bool
    fixed: Decimal | None = None  # the stage's fixed amount (a deposit), kept as it is while the rest allows


@dataclass(frozen=True)
class Split:
    amounts: list[Decimal]  # every installment's amount after the revision, in the rows' order
    refund: Decimal  # what goes back: what was paid beyond the new total (0 when the new total covers it)


def revision_split(new_total: Decimal, rows: Sequence[SplitRow], currency: str) -> Split:
    """The installments' amounts once `new_total` is accepted. Paid rows keep their amounts; the unpaid ones share
    `new_total` minus the paid amounts: an unpaid stage with a fixed amount keeps it and the shares split the rest
    (core.money.allocate_with_fixed: exact to the minor unit). When no unpaid stage carries a share, or the rest
    is below the unpaid fixed amounts, the rest is split in proportion to the fixed amounts; with none, by the
    shares, else equally. When the paid amounts already exceed `new_total`, every unpaid row becomes 0 and the
    excess is the refund. So sum(amounts) - refund == new_total, always."""
    kept = sum((r.amount for r in rows if not r.unpaid), ZERO)
    unpaid = [r for r in rows if r.unpaid]
    remaining = new_total - kept
    refund = ZERO
    fixed_total = sum((r.fixed for r in unpaid if r.fixed), ZERO)
    has_shares = any(r.share and r.share > 0 for r in unpaid)
    if remaining <= 0 or not unpaid:
        parts = [ZERO] * len(unpaid)
        refund = max(-remaining, ZERO)
    elif fixed_total and has_shares and remaining >= fixed_total:
        parts = money.allocate_with_fixed(remaining, [
            money.Part(fixed=r.fixed, currency=currency) if r.fixed else money.Part(share=r.share or ZERO)
            for r in unpaid], currency)
    else:
        # Fixed amounts come first: with no share left to take the rest, or too little for them, the rest is split
        # over the fixed amounts in proportion; without fixed amounts, by the shares.
        weights = [r.fixed or ZERO for r in unpaid] if fixed_total else [r.share or ZERO for r in unpaid]
        if sum(weights, ZERO) <= 0:
            weights = [Decimal(1)] * len(unpaid)
        parts = money.allocate(remaining, weights, currency)
    it = iter(parts)
    return Split([next(it) if r.unpaid else r.amount for r in rows], refund)


def _installments(order_id: int, *, lock: bool) -> list[Installment]:
    qs = installment_qs_select_for_update() if lock else Installment.objects.order_by("pk")
    return sorted(qs.filter(order_id=order_id).select_related("stage__definition"),
                  key=lambda i: (i.position, i.pk))


def _split_for(installments: list[Installment], new_total: Decimal, currency: str) -> Split:
    return revision_split(new_total, [SplitRow(i.amount, i.stage.definition.payment_share or ZERO,
                                               i.state in RESPLIT_STATES, i.stage.definition.payment_amount)
                                      for i in installments], currency)


def revision_preview(revision: PriceRevision) -> list[dict]:
    """The order's installments as they would be if `revision` were accepted now."""
    installments = _installments(revision.order_id, lock=False)
    split = _split_for(installments, revision.new_total, revision.currency)
    return [{"installment": i.pk, "stage": i.stage_id, "stage_code": i.stage.definition.code, "state": i.state,
             "amount": str(money.quantize(i.amount, i.currency)),
             "new_amount": str(money.quantize(amount, i.currency)), "currency": i.currency}
            for i, amount in zip(installments, split.amounts, strict=True)]


def _amount(value, field: str, currency: str, errors: dict) -> Decimal | None:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        amount = None
    if amount is None or not amount.is_finite():
        errors[field] = [_("Give an amount such as \"120.00\".")]
        return None
    if error := money.minor_units_error(amount, currency):
        errors[field] = [error]
        return None
    return amount


def _clean(order: ServiceOrder, total_amount, reason: str, lines: list[dict]) -> tuple[Decimal, list[dict]]:
    errors: dict = {}
    currency = order.currency
    new_total = _amount(total_amount, "total_amount", currency, errors)
    if new_total is not None and new_total <= 0:
        errors["total_amount"] = [_("The new total must be above zero.")]
    if not (reason or "").strip():
        errors["reason"] = [_("Say why the price changes.")]
    clean_lines: list[dict] = []
    if not lines:
        errors["lines"] = [_("List the items that change the price (增项 / 减项).")]
    elif len(lines) > MAX_LINES:
        errors["lines"] = [_("At most %(n)s items.") % {"n": MAX_LINES}]
    for n, line in enumerate(lines[:MAX_LINES]):
        description = str(line.get("description", "")).strip()
        amount = _amount(line.get("amount"), f"lines[{n}].amount", currency, errors)
        if not description:
            errors[f"lines[{n}].description"] = [_("Describe the item.")]
        if amount is not None and amount == 0:
            errors[f"lines[{n}].amount"] = [_("An item changes the price: give a positive (增项) or negative (减项) "
                                              "amount.")]
        clean_lines.append({"description": description[:200], "amount": str(amount)})
    if errors:
        raise DomainError(_("The revision is not valid."), code="invalid", errors=errors)
    difference = new_total - order.total_amount
    if difference == 0:
        raise DomainError(_("The new total is the current total: nothing to revise."), code="invalid",
                          errors={"total_amount": [_("The new total is the current total.")]})
    line_sum = sum((Decimal(line["amount"]) for line in clean_lines), ZERO)
    if line_sum != difference:
        detail = _("The items add up to %(lines)s, but the new total minus the current total (%(old)s) is "
                   "%(difference)s: the items must explain the whole change.") % {
            "lines": display.money(line_sum, currency), "old": display.money(order.total_amount, currency),
            "difference": display.money(difference, currency)}
        raise DomainError(detail, code="lines_mismatch", errors={"lines": [detail]})
    return new_total, clean_lines


def _order_open_for_revision(order: ServiceOrder, installments: list[Installment]) -> None:
    if order.status != ServiceOrder.Status.ACTIVE:
        raise InvalidTransition(_("This order is %(status)s: its price can no longer change.")
                                % {"status": order.get_status_display()}, allowed=[])
    if not any(i.state in RESPLIT_STATES for i in installments):
        raise Conflict(_("Every installment of this order is paid: its price can no longer change."),
                       code="nothing_to_revise")


def revision_propose(*, order: ServiceOrder, actor, total_amount, reason: str, lines: list[dict]) -> PriceRevision:
    """Store staff propose a new total (the lines explain the difference). 409 while another revision is open, when
    nothing is left unpaid, or when the order is cancelled or completed."""
    policy.require(actor, "revision.propose")
    with transaction.atomic():
        order = engine.lock_order(order.pk)
        _order_open_for_revision(order, _installments(order.pk, lock=False))
        if PriceRevision.objects.filter(order_id=order.pk, status=R.OPEN).exists():
            raise Conflict(_("A price revision of this order is waiting for the consumer's answer."),
                           code="revision_open")
        new_total, clean_lines = _clean(order, total_amount, reason, lines)
        try:
            with transaction.atomic():
                revision = PriceRevision.objects.create(
                    order=order, old_total=order.total_amount, new_total=new_total, currency=order.currency,
                    reason=reason.strip()[:300], lines=clean_lines, proposed_by=actor if actor else None)
        except IntegrityError:  # the lock makes this unreachable; the constraint is the last word
            raise Conflict(_("A price revision of this order is waiting for the consumer's answer."),
                           code="revision_open") from None
        events.revision_event(events.REVISION_PROPOSED, order=order, revision=revision, actor=actor,
                              reason=revision.reason, lines=clean_lines)
        pause_sla_clock(order, revision.created_at)  # the store waits on the consumer's answer: its clock stops
    return revision


def _lock_open(revision: PriceRevision, actor) -> tuple[ServiceOrder, PriceRevision]:
    policy.require(actor, "revision.answer")
    order = engine.lock_order(revision.order_id)
    rev = PriceRevision.objects.select_for_update().get(pk=revision.pk)
    if rev.status != R.OPEN:
        raise InvalidTransition(_("This price revision was already answered (%(status)s).")
                                % {"status": rev.get_status_display()}, allowed=[])
    if getattr(actor, "pk", None) != order.consumer_id:
        raise PermissionDeniedError(_("Only the order's consumer answers a price revision."))
    return order, rev


def _close(order: ServiceOrder, rev: PriceRevision, status: str, actor) -> None:
    rev.status, rev.answered_by, rev.answered_at = status, actor, timezone.now()
    rev.save(update_fields=["status", "answered_by", "answered_at", "refund_amount"])
    resume_sla_clock(order, rev.answered_at)  # answered: the SLA clock runs again (workflows.services.sla_hold)


def revision_accept(*, revision: PriceRevision, actor) -> PriceRevision:
    """The consumer accepts: in one transaction with the order locked, the order's total becomes the new one, the
    unpaid installments are re-split (revision_split; one that becomes 0 is waived), and what was paid beyond the
    new total is refunded from the captured payments. An installment with a payment attempt in flight blocks it
    (409 `payment_in_progress`): money arriving for the old amount must not settle a re-split installment."""
    with transaction.atomic():
        order, rev = _lock_open(revision, actor)
        installments = _installments(order.pk, lock=True)
        _order_open_for_revision(order, installments)
        in_flight = [i for i in installments if i.state == I.PROCESSING]
        if in_flight or Payment.objects.filter(order_id=order.pk, status__in=Payment.OPEN_STATUSES).exists():
            raise Conflict(_("A payment of this order is in progress: wait until it is finished (or expired), "
                             "then accept the revision."), code="payment_in_progress")
        if order.total_amount != rev.old_total:
            raise Conflict(_("The order's total changed since this revision was proposed."), code="revision_stale")
        split = _split_for(installments, rev.new_total, rev.currency)
        changed = {}
        for inst, amount in zip(installments, split.amounts, strict=True):
            if inst.state not in RESPLIT_STATES or (amount == inst.amount and amount != 0):
                continue
            inst.amount = amount
            if amount == 0:
                inst.mark_waived()
            inst.save()
            changed[str(inst.pk)] = str(money.quantize(amount, rev.currency))
        order.total_amount = rev.new_total
        order.save(update_fields=["total_amount"])
        refunds = []
        if split.refund > 0:
            refunds = refunds_request_locked(order=order, amount=split.refund, actor=actor,
                                             reason=f"price revision {rev.pk}")
        rev.refund_amount = sum((r.amount for r in refunds), ZERO)
        _close(order, rev, R.ACCEPTED, actor)
        events.revision_event(events.REVISION_ACCEPTED, order=order, revision=rev, actor=actor,
                              installments=changed,
                              refund_amount=str(money.quantize(rev.refund_amount, rev.currency)))
        engine.try_advance(order)  # a waived installment may have been what a stage waited for
    return rev


def revision_decline(*, revision: PriceRevision, actor) -> PriceRevision:
    """The consumer declines: the order keeps its total; staff may propose another revision."""
    with transaction.atomic():
        order, rev = _lock_open(revision, actor)
        _close(order, rev, R.DECLINED, actor)
        events.revision_event(events.REVISION_DECLINED, order=order, revision=rev, actor=actor)
    return rev
