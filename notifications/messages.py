"""Which order events make which messages, for whom, and their wording.

`plan(event)` decides from the event alone (no database query), so the listener costs nothing for
the many events nobody needs to hear about. `render(...)` words one planned message.

Audiences: the order's consumer, and the managers of the order's store ("store" below) for what
needs a person at the store (escalations, SLA breaches, missed visits, a consumer's cancellation).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext as _

from core.money import display
from tenancy import policy

CONSUMER = "consumer"
STORE = "store"


# The insights app's breach kinds, in words.
SLA_WORDS = {
    "sla.stage_overdue": "the stage is overdue",
    "sla.no_show": "the technician did not check in",
    "sla.approval_overdue": "the consumer's approval is overdue",
    "sla.installment_overdue": "an installment is overdue",
}


@dataclass(frozen=True)
class Planned:
    audience: str
    kind: str


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


def _sub(state: str) -> str:
    return state.partition(":")[2]


def plan(event) -> list[Planned]:
    """The messages an event calls for. Reads only the event's own fields."""
    kind, to_state = event.kind, event.to_state or ""
    out: list[Planned] = []
    if kind == "order.created":
        out.append(Planned(CONSUMER, "order.created"))
    elif kind == "stage.book":
        out.append(Planned(CONSUMER, "appointment.booked"))
    elif kind == "stage.reschedule":
        out.append(Planned(CONSUMER, "appointment.moved"))
    elif kind == "job.checked_in":
        out.append(Planned(CONSUMER, "technician.arrived"))
    elif kind == "job.checkin_flagged":
        out.append(Planned(STORE, "checkin.flagged"))
    elif kind == "job.no_show":
        out += [Planned(CONSUMER, "visit.missed"), Planned(STORE, "visit.no_show")]
    elif kind == "installment.due":
        out.append(Planned(CONSUMER, "installment.due"))
    elif kind == "payment.captured":
        out.append(Planned(CONSUMER, "payment.received"))
    elif kind == "voucher.issued":
        out.append(Planned(CONSUMER, "voucher.issued"))
    elif kind == "voucher.expiring":
        out.append(Planned(CONSUMER, "voucher.expiring"))
    elif kind.startswith("sla."):
        out.append(Planned(STORE, "sla.breached"))
    elif kind == "rating.given" and (event.payload or {}).get("low"):
        out.append(Planned(STORE, "rating.low"))  # 1-2 stars: the store hears at once
    elif kind in ("refund.failed", "refund.stuck", "payment.amount_mismatch", "refund.amount_mismatch",
                  "payment.notification_rejected", "refund.unrecognised", "payment.reconciliation_difference"):
        out.append(Planned(STORE, kind))  # money a person must settle at the provider
    elif kind.startswith("stage."):
        if to_state == "completed":
            out.append(Planned(CONSUMER, "order.completed"))
        elif to_state == "cancelled":
            out.append(Planned(CONSUMER, "order.cancelled"))
            if event.actor_role not in policy.STAFF:
                out.append(Planned(STORE, "order.cancelled_by_consumer"))
        elif _sub(to_state) == "awaiting_approval" and (event.from_state or "") != to_state:
            out.append(Planned(CONSUMER, "approval.requested"))
        elif _sub(to_state) == "escalated":
            out.append(Planned(STORE, "stage.escalated"))
        elif _sub(to_state) == "ready" and event.trigger in ("unblock", "complete", "approve"):
            # A new stage is open for the consumer; the renderer asks them to book when it is a visit.
            out.append(Planned(CONSUMER, "stage.ready"))
    return out


# --- wording -----------------------------------------------------------------------------------


@dataclass
class Context:
    """What the wording needs, looked up once per event by the service."""

    order_number: str
    store_name: str
    tz: object
    stage_name: str
    tracking_url: str
    payload: dict
    currency: str
    needs_booking: bool = False
    technician_name: str = ""


def _when(value, tz) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return ""
    return value.astimezone(tz).strftime("%a %d %b, %H:%M")


def _amount(payload: dict, currency: str) -> str:
    for key in ("amount", "amount_due", "due_amount", "total"):
        if payload.get(key) not in (None, ""):
            return display(payload[key], payload.get("currency") or currency)
    return ""


def render(kind: str, ctx: Context) -> Rendered:
    p, tz, n, stage, link = ctx.payload, ctx.tz, ctx.order_number, ctx.stage_name or "the next step", ctx.tracking_url
    track = f" Track your order: {link}" if link else ""
    if kind == "order.created":
        return Rendered(f"Your order {n} at {ctx.store_name}",
                        f"Thank you! Your order {n} at {ctx.store_name} is open.{track}")
    if kind == "appointment.booked":
        when = _when(p.get("window_start"), tz)
        return Rendered(f"{stage}: visit booked for {when}",
                        f"Your {stage} visit for order {n} is booked for {when}.{track}")
    if kind == "appointment.moved":
        when = _when(p.get("to") or p.get("window_start"), tz)
        return Rendered(f"{stage}: visit moved to {when}",
                        f"Your {stage} visit for order {n} has moved to {when}.{track}")
    if kind == "appointment.reminder":
        when = _when(p.get("window_start"), tz)
        return Rendered(f"Reminder: {stage} visit {when}",
                        f"Reminder: our technician comes for your {stage} visit (order {n}) on {when}.{track}")
    if kind == "technician.arrived":
        who = ctx.technician_name or "Your technician"
        return Rendered(f"{who} has arrived", f"{who} has checked in for your {stage} visit (order {n}).")
    if kind == "visit.missed":
        return Rendered(f"{stage}: we missed your visit",
                        f"We are sorry: the technician did not arrive for your {stage} visit (order {n}). "
                        f"Pick a new time in the app, or {ctx.store_name} will contact you to arrange one.{track}")
    if kind == "visit.no_show":
        return Rendered(f"No-show on order {n}",
                        f"The technician did not check in for the {stage} visit of order {n}. "
                        "Contact the consumer and rebook it (reschedule the missed visit).")
    if kind == "installment.due":
        amount = _amount(p, ctx.currency)
        what = f"{amount} is" if amount else "A payment is"
        return Rendered(f"Payment due for order {n}",
                        f"{what} due for {stage} of order {n}.{track}")
    if kind == "payment.received":
        amount = _amount(p, ctx.currency)
        return Rendered(f"Payment received for order {n}",
                        f"We received your payment{' of ' + amount if amount else ''} for order {n}. Thank you!")
    if kind == "voucher.issued":
        until = _when(p.get("expires_at") or p.get("valid_until"), tz)
        valid = f" It is valid until {until}." if until else ""
        return Rendered(f"Your e-voucher for {stage}",
                        f"Your e-voucher for {stage} (order {n}) is ready: show its QR code to the technician."
                        f"{valid}{track}")
    if kind == "voucher.expiring":
        until = _when(p.get("expires_at") or p.get("valid_until"), tz)
        return Rendered("Your e-voucher expires soon",
                        f"Your e-voucher for {stage} (order {n}) expires {('on ' + until) if until else 'soon'}. "
                        f"Book your visit before then.{track}")
    if kind == "approval.requested":
        return Rendered(f"{stage} is ready for your approval",
                        f"{stage} of order {n} is ready: please review it and approve it or ask for changes.{track}")
    if kind == "stage.ready":
        if ctx.needs_booking:
            return Rendered(f"{stage}: book a visit", f"{stage} of order {n} is ready: book a visit time.{track}")
        return Rendered(f"{stage} has started", f"{stage} of order {n} is under way.{track}")
    if kind == "order.completed":
        return Rendered(f"Order {n} is complete",
                        f"Your order {n} is complete. Thank you for choosing {ctx.store_name}!")
    if kind == "order.cancelled":
        reason = p.get("reason") or ""
        return Rendered(f"Order {n} is cancelled",
                        f"Your order {n} has been cancelled{': ' + reason if reason else ''}. "
                        "Any refund due is on its way.")
    if kind == "order.cancelled_by_consumer":
        reason = p.get("reason") or ""
        return Rendered(f"Order {n} cancelled by the consumer",
                        f"The consumer cancelled order {n}{': ' + reason if reason else ''}.")
    if kind == "stage.escalated":
        return Rendered(f"Escalation on order {n}",
                        f"The consumer rejected {stage} of order {n} again and the rework limit is reached. "
                        f"Reason: {p.get('reason') or 'not given'}. Please step in.")
    if kind == "refund.failed":
        amount = _amount(p, ctx.currency)
        return Rendered(f"Refund failed on order {n}",
                        f"The payment provider refused the refund{' of ' + amount if amount else ''} for order {n}. "
                        "Refund it again from the payment, or settle it with the consumer.")
    if kind == "payment.amount_mismatch":
        reported = p.get("reported_amount")
        asked = _amount(p, ctx.currency)
        return Rendered(f"Payment to check on order {n}",
                        f"The payment provider reported {reported or 'an amount'} {p.get('reported_currency') or ''} "
                        f"for a payment of {asked or 'another amount'} on order {n}. It was not booked: check the "
                        "payment at the provider and settle it with the consumer.")
    if kind == "refund.stuck":
        amount = _amount(p, ctx.currency)
        return Rendered(f"Refund not confirmed on order {n}",
                        f"The payment provider has not confirmed the refund{' of ' + amount if amount else ''} for "
                        f"order {n} after {p.get('hours') or 'many'} hours; it is still being asked. Check it at the "
                        "provider: the consumer is waiting for the money.")
    if kind == "refund.amount_mismatch":
        asked = _amount(p, ctx.currency)
        return Rendered(f"Refund to check on order {n}",
                        f"The payment provider reported a refund of {p.get('reported_amount') or 'an amount'} "
                        f"{p.get('reported_currency') or ''} where {asked or 'another amount'} was asked on order {n}. "
                        "It was not booked: check the refund at the provider and settle it with the consumer.")
    if kind == "checkin.flagged":
        words = {"outside_radius": f"{p.get('distance_m')} m from the address", "low_accuracy":
                 f"located only to within {p.get('accuracy_m')} m"}
        found = "; ".join(words[r] for r in p.get("reasons", ()) if r in words) or "an unreliable location"
        return Rendered(f"Check-in to verify on order {n}",
                        f"The technician checked in to {stage} of order {n} {found} (allowed: {p.get('radius_m')} m). "
                        "Please confirm they are on site.")
    if kind == "payment.notification_rejected":
        return Rendered(_("Payment notification refused on order %(n)s") % {"n": n},
                        _("A notification about a payment of order %(n)s was refused (%(reason)s) and changed "
                          "nothing. If the consumer says they paid, check the payment at the provider.")
                        % {"n": n, "reason": p.get("reason") or "?"})
    if kind == "refund.unrecognised":
        return Rendered(_("Unknown refund on order %(n)s") % {"n": n},
                        _("The payment provider reported a refund of %(amount)s on order %(n)s that was not asked "
                          "here. It was not booked: check it at the provider.")
                        % {"n": n, "amount": p.get("reported_amount") or _("an amount")})
    if kind == "payment.reconciliation_difference":
        return Rendered(_("Payment record differs from the provider on order %(n)s") % {"n": n},
                        _("The reconciliation of %(day)s found a difference on order %(n)s (%(difference)s): our "
                          "record says %(ledger)s, the provider says %(provider)s. Check it at the provider.")
                        % {"n": n, "day": p.get("day") or "?", "difference": p.get("difference") or "?",
                           "ledger": p.get("ledger") or "?", "provider": p.get("provider_says") or "?"})
    if kind == "rating.low":
        comment = p.get("comment") or ""
        return Rendered(f"Low rating on order {n}",
                        f"The consumer rated order {n} {p.get('score')} of 5 stars"
                        f"{' (or a technician 1-2 stars)' if (p.get('score') or 5) > 2 else ''}."
                        f"{' Comment: ' + comment if comment else ''} Please contact them.")
    if kind == "sla.breached":
        rule = SLA_WORDS.get(p.get("_event_kind", ""), p.get("rule") or p.get("_event_kind") or "SLA")
        return Rendered(f"SLA breach on order {n}",
                        f"{stage} of order {n} has passed its time limit ({rule}). Please look into it.")
    return Rendered(f"Update on order {n}", f"There is an update on your order {n}.{track}")
