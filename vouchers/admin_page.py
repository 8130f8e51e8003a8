"""The order page's e-voucher part (workflows.hooks.register_admin_section): each voucher's stage and status,
never its code (staff see the last 4 characters), and the counter's redeem box: the consumer's code typed in."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils.translation import gettext_lazy

from vouchers.models import Voucher
from workflows.admin.common import staff_may
from workflows.hooks import OrderDetailRows

TITLE = gettext_lazy("E-vouchers")


def render(detail: OrderDetailRows, request) -> str:
    """Reads the vouchers the API's "vouchers" section loaded (no query); the code is never shown."""
    vouchers = detail.sections.get("vouchers") or []
    if not vouchers:
        return ""
    names = {s["id"]: s["definition__name"] for s in detail.stages}
    return render_to_string("admin/vouchers/order_section.html", {
        "vouchers": [{"stage": names.get(v.stage_id, ""), "state": v.state, "state_words": Voucher.State(v.state).label,
                      "last4": v.last4, "valid_until": v.valid_until, "redeemed_at": v.redeemed_at} for v in vouchers],
        "can_redeem": detail.order.status == "active" and staff_may(request, "redeem")
        and any(v.state == Voucher.State.ISSUED for v in vouchers),
        "order": detail.order,
    }, request=request)
