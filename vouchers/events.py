"""The order events the vouchers app records: each kind declared once, with a small constructor.
Events never carry a voucher's code."""

from __future__ import annotations

from vouchers.models import Voucher
from workflows.events import declare, record_event
from workflows.models import OrderEvent, ServiceOrder

VOUCHER_ISSUED = declare("voucher.issued", "The consumer got the stage's e-voucher.", ("voucher", "valid_until"))
VOUCHER_REDEEMED = declare("voucher.redeemed", "The e-voucher was redeemed on site or at the store.",
                           ("voucher", "job", "redeemed_at", "redeemed_by", "latitude", "longitude"))
VOUCHER_LOCKOUT = declare("voucher.lockout", "Too many wrong codes: redeeming is locked for a while.",
                          ("bucket", "job", "user", "locked_until", "limit"))
VOUCHER_REVOKED = declare("voucher.revoked", "The e-voucher was revoked (the order was cancelled).",
                          ("voucher", "reason"))
VOUCHER_EXPIRED = declare("voucher.expired", "The e-voucher expired unused.", ("voucher", "valid_until"))
VOUCHER_EXPIRING = declare("voucher.expiring", "The e-voucher expires soon: the consumer is reminded.",
                           ("voucher", "valid_until", "consumer"))


def voucher_event(kind, /, *, order: ServiceOrder, voucher: Voucher, actor=None, **extra) -> OrderEvent:
    """One of the voucher.* kinds about `voucher` (on its stage)."""
    return record_event(order=order, kind=kind, actor=actor, stage_id=voucher.stage_id,
                        payload={"voucher": voucher.pk, **extra})


def voucher_lockout(*, order: ServiceOrder, stage_id: int, actor, **payload) -> OrderEvent:
    return record_event(order=order, kind=VOUCHER_LOCKOUT, actor=actor, stage_id=stage_id, payload=payload)
