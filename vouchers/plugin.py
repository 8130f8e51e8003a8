"""How vouchers plug into the stage engine (`register()`, called by VouchersConfig.ready()).

This is the module to copy when a new app plugs into the engine: what it adds (effects keyed by
trigger, guards, a booking deadline, an order-detail section) and one `register()` that wires it.

- effect: a stage that requires a voucher gets one when the order enters "<code>:ready" (the
  consumer became entitled: its prior installment is paid, or at once when it carries none);
- effect: cancelling the order revokes its open vouchers;
- guard on "complete": such a stage cannot complete before its voucher is redeemed;
- booking deadline: a visit of such a stage must end before its voucher's valid_until (redemption is
  refused from valid_until on, so a later visit could never complete the stage);
- order detail section "vouchers": the consumer sees the code and the QR link, others do not.
"""

from __future__ import annotations

from collections import namedtuple

from django.urls import reverse
from django.utils import timezone
from rest_framework import serializers

from core.compiled import CompiledQuery
from vouchers import (
    admin_page,
    events,  # noqa: F401 - declares the vouchers' event kinds
)
from vouchers.models import Voucher
from workflows import hooks
from workflows.hooks import BookingDeadline, OrderDetailRows, TransitionContext


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

    vouchers_revoke_for_order(order=ctx.order, actor=ctx.actor)


def voucher_redeemed_guard(order, stage) -> str | None:
    if stage is None or not stage.definition.requires_voucher or voucher_redeemed(stage):
        return None
    return "The consumer's e-voucher for this stage has not been redeemed yet."


def voucher_redeemed(stage) -> bool:
    """Whether the stage's e-voucher is redeemed (the technician's job shows it)."""
    return Voucher.objects.filter(stage=stage, state=Voucher.State.REDEEMED).exists()


def voucher_booking_deadline(stage) -> BookingDeadline | None:
    """Visits of a stage that needs a voucher must end while the voucher is still valid. Only an issued
    (or already expired) voucher limits them: a redeemed one has done its work."""
    if stage is None or not stage.definition.requires_voucher:
        return None
    valid_until = (
        Voucher.objects.filter(stage=stage, state__in=(Voucher.State.ISSUED, Voucher.State.EXPIRED))
        .order_by("-issued_at", "-pk")
        .values_list("valid_until", flat=True)
        .first()
    )
    if valid_until is None:
        return None
    local = timezone.localtime(valid_until, stage.order.store.tzinfo).strftime("%Y-%m-%d %H:%M")
    if valid_until <= timezone.now():
        reason = f"The e-voucher for this stage expired on {local}; a visit can no longer be redeemed."
    else:
        reason = f"The e-voucher for this stage expires on {local}: the visit must end before then."
    return BookingDeadline(until=valid_until, reason=reason)


_FIELDS = ("id", "order_id", "stage_id", "state", "valid_from", "valid_until", "redeemed_at", "last4", "code_encrypted")


_VoucherRow = namedtuple("_VoucherRow", _FIELDS)
_DETAIL_VOUCHERS = CompiledQuery("detail.vouchers", lambda ids: (
    Voucher.objects.filter(order_id__in=ids).order_by("pk").values_list(*_FIELDS)))


def load_section(details: list[OrderDetailRows]) -> dict[int, list]:
    """Each order's vouchers (one query for all the orders, plain rows). Vouchers are only issued for
    stages that require one (issue_on_entitlement): no such stage, no query."""
    rows = {d.order.pk: [] for d in details}
    ids = [d.order.pk for d in details if any(s["definition__requires_voucher"] for s in d.stages)]
    if ids:
        for row in _DETAIL_VOUCHERS.rows(ids=ids):
            row = _VoucherRow(*row)
            rows[row.order_id].append(row)
    return rows


def serialize_section(detail: OrderDetailRows, request) -> list[dict]:
    """Reads only the loaded vouchers (and the stages workflows loaded): no query per voucher."""
    from vouchers.services import voucher_code

    user = getattr(request, "user", None)
    is_owner = user is not None and getattr(user, "pk", None) == detail.order.consumer_id
    codes = {s["id"]: s["definition__code"] for s in detail.stages}
    result = []
    for v in detail.sections["vouchers"]:
        item = {
            "id": v.id, "stage": v.stage_id, "stage_code": codes[v.stage_id], "state": v.state,
            "valid_from": v.valid_from, "valid_until": v.valid_until, "redeemed_at": v.redeemed_at,
            "last4": v.last4,
        }
        if is_owner:
            item["code"] = voucher_code(v)
            item["qr_url"] = reverse("voucher-qr", kwargs={"pk": v.id})
        result.append(item)
    return result


class VoucherSection(serializers.Serializer):
    """One e-voucher in the order detail (the published schema of serialize_section's items)."""

    id = serializers.IntegerField()
    stage = serializers.IntegerField()
    stage_code = serializers.CharField()
    state = serializers.ChoiceField(choices=Voucher.State.choices)
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()
    redeemed_at = serializers.DateTimeField(allow_null=True)
    last4 = serializers.CharField(help_text="The code's last 4 characters: what staff see.")
    code = serializers.CharField(required=False, help_text="The whole code: only the order's consumer gets it.")
    qr_url = serializers.CharField(required=False, help_text="The code as a QR image (SVG): only for the consumer.")


def section_schema():
    return VoucherSection(many=True, read_only=True)


def seal_section(items: list[dict]) -> list[dict]:
    """The section as a cache may keep it: the codes encrypted, as the database keeps them."""
    from vouchers import crypto

    return [{**item, "code": crypto.encrypt(item["code"])} if item.get("code") else item for item in items]


def unseal_section(items: list[dict]) -> list[dict]:
    from vouchers import crypto

    return [{**item, "code": crypto.decrypt(item["code"])} if item.get("code") else item for item in items]


def register() -> None:
    # The stage becomes ready (the consumer is entitled) after these triggers.
    hooks.register_effect(("create", "unblock", "complete", "approve"), issue_on_entitlement)
    hooks.register_effect("cancel", revoke_on_cancel)
    hooks.register_guard("complete", voucher_redeemed_guard)
    hooks.register_stage_fact("voucher_redeemed", voucher_redeemed)
    hooks.register_booking_deadline(voucher_booking_deadline)
    hooks.register_order_section("vouchers", load=load_section, serialize=serialize_section,
                                 schema=section_schema, seal=seal_section, unseal=unseal_section)
    # Reads the "vouchers" section's rows.
    hooks.register_admin_section("vouchers", title=admin_page.TITLE, render=admin_page.render, position=20)
