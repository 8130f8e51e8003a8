"""The order's history in the consumer's words, from its events (no query). Kinds the consumer has no use for
(SLA scans, payment attempts, internal bookkeeping) are left out."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from core.display import money as display

# kind -> words; %(stage)s, %(amount)s, %(when)s, %(reason)s and %(score)s are filled in from the event.
WORDS = {
    "order.created": _("Order created"),
    "stage.unblock": _("%(stage)s: payment received, the step is open"),
    "stage.book": _("%(stage)s: visit booked for %(when)s"),
    "stage.reschedule": _("%(stage)s: visit moved to %(when)s"),
    "stage.start": _("%(stage)s: work started"),
    "stage.approve": _("%(stage)s: you approved it"),
    "stage.reject": _("%(stage)s: you asked for changes: %(reason)s"),
    "stage.resume": _("%(stage)s: the store is working on your changes"),
    "stage.cancel": _("The order was cancelled"),
    "stage.settle": _("Final payment received: the order is complete"),
    "payment.captured": _("Payment of %(amount)s received"),
    "payment.refunded": _("%(amount)s refunded to you"),
    "voucher.issued": _("%(stage)s: e-voucher issued"),
    "voucher.redeemed": _("%(stage)s: e-voucher redeemed"),
    "job.checked_in": _("%(stage)s: the technician arrived"),
    "job.checked_out": _("%(stage)s: the technician finished the visit"),
    "job.no_show": _("%(stage)s: the technician did not come"),
    "job.evidence_added": _("%(stage)s: the technician added a photo"),
    "tracking.link_revoked": _("The tracking link was replaced by a new one"),
    "rating.given": _("You rated the service %(score)s stars"),
    "revision.proposed": _("The store proposed a new total of %(amount)s: %(reason)s"),
    "revision.accepted": _("You accepted the new total of %(amount)s"),
    "revision.declined": _("You declined the new total of %(amount)s"),
}
COMPLETE_FOR_APPROVAL = _("%(stage)s: ready for your approval")
COMPLETE_DONE = _("%(stage)s: done")


def _amount(payload: dict) -> str:
    try:
        return display(Decimal(str(payload.get("amount"))), str(payload.get("currency") or ""))
    except (InvalidOperation, TypeError, ValueError):
        return ""


def _when(value, tz) -> str:
    dt = parse_datetime(value) if isinstance(value, str) else None
    return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M") if dt and dt.tzinfo else ""


def history(events, stage_names: dict[int, str], *, order) -> list[dict]:
    """[{"at", "kind", "text"}], newest first."""
    tz = order.store.tzinfo
    out = []
    for e in events:
        payload = e.payload or {}
        if e.kind == "stage.complete":
            words = COMPLETE_FOR_APPROVAL if (e.to_state or "").endswith("awaiting_approval") else COMPLETE_DONE
        else:
            words = WORDS.get(e.kind)
        if words is None:
            continue
        values = {"stage": stage_names.get(e.stage_id, ""), "amount": _amount(payload),
                  "when": _when(payload.get("to") or payload.get("window_start"), tz),
                  "reason": payload.get("reason", ""), "score": payload.get("score", "")}
        out.append({"at": e.created_at, "kind": e.kind, "text": str(words) % values})
    out.reverse()
    return out
