"""How vouchers plug into the stage engine (registered in VouchersConfig.ready()).

- effect: a stage that requires a voucher gets one when the order enters "<code>:ready" (the
  consumer became entitled: its prior installment is paid, or at once when it carries none);
- effect: cancelling the order revokes its open vouchers;
- guard on "complete": such a stage cannot complete before its voucher is redeemed;
- order detail section "vouchers": the consumer sees the code and the QR link, others do not.
"""

from __future__ import annotations

from django.db.models import Prefetch
from django.urls import reverse

from workflows.hooks import TransitionContext


def issue_on_entitlement(ctx: TransitionContext) -> None:
    from vouchers.services import voucher_issue
    from workflows.models import StageInstance

    if ctx.to_sub != StageInstance.State.READY:
        return
    stage = ctx.entered_stage or ctx.stage
    if stage is None or not stage.definition.requires_voucher:
        return
    voucher_issue(order=ctx.order, stage=stage)


def revoke_on_cancel(ctx: TransitionContext) -> None:
    from vouchers.services import vouchers_revoke_for_order

    if ctx.trigger == "cancel":
        vouchers_revoke_for_order(order=ctx.order, actor=ctx.actor)


def voucher_redeemed_guard(order, stage) -> str | None:
    from vouchers.models import Voucher

    if stage is None or not stage.definition.requires_voucher:
        return None
    if Voucher.objects.filter(stage=stage, state=Voucher.State.REDEEMED).exists():
        return None
    return "The consumer's e-voucher for this stage has not been redeemed yet."


def _prefetch():
    from vouchers.models import Voucher

    return (Prefetch("vouchers", queryset=Voucher.objects.select_related("stage__definition").order_by("pk")),)


def serialize_section(order, request) -> list[dict]:
    """Reads only the prefetched vouchers (and their stages): no query per voucher."""
    from vouchers.services import voucher_code

    user = getattr(request, "user", None)
    is_owner = user is not None and getattr(user, "pk", None) == order.consumer_id
    result = []
    for v in order.vouchers.all():
        item = {
            "id": v.pk, "stage": v.stage_id, "stage_code": v.stage.definition.code, "state": v.state,
            "valid_from": v.valid_from, "valid_until": v.valid_until, "redeemed_at": v.redeemed_at,
            "last4": v.last4,
        }
        if is_owner:
            item["code"] = voucher_code(v)
            item["qr_url"] = reverse("voucher-qr", kwargs={"pk": v.pk})
        result.append(item)
    return result


def register() -> None:
    from workflows import hooks

    hooks.register_effect(issue_on_entitlement)
    hooks.register_effect(revoke_on_cancel)
    hooks.register_guard("complete", voucher_redeemed_guard)
    hooks.register_order_section("vouchers", prefetch=_prefetch(), serialize=serialize_section)
