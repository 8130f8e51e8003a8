"""Which order events make which messages, for whom, and their wording: data, not code.

`ROUTES` is the routing table (an event kind, or a stage's move to a sub-state, to the messages it makes and their
audience); `plan(event)` reads it from the event alone (no database query), so the listener costs nothing for the
many events nobody needs to hear about. Each message kind's wording is a template,
`templates/notifications/messages/<kind>.txt` (first line: the e-mail's subject; the rest: its text and the SMS),
rendered with `{% blocktranslate %}` in the recipient's language (`render(kind, ctx, language)`).

Audiences: the order's consumer, and the managers of the order's store ("store" below) for what
needs a person at the store (escalations, SLA breaches, missed visits, a consumer's cancellation); the order's
brand's admins ("brand") and the platform's operators ("platform") for an SLA breach nobody resolved (insights'
escalation levels); and the technicians the event names in its payload (`TECHNICIAN_KEYS`): the one a visit is given
to, the one it was taken off, those of the visits an order's cancellation called off.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.template import Context as TemplateContext
from django.template import Engine
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core import display
from core.language import override
from tenancy import policy

CONSUMER = "consumer"
STORE = "store"
BRAND = "brand"  # the merchant admins of the order's merchant
PLATFORM = "platform"  # the platform's operators
STAFF_AUDIENCES = (STORE, BRAND, PLATFORM)  # heard by e-mail (notifications.services.outbox)
TECHNICIAN = "technician"  # payload["technician"]: the visit's technician now
PREVIOUS_TECHNICIAN = "previous_technician"  # payload["previous"]: its technician before (reassigned, moved)
VISIT_TECHNICIANS = "visit_technicians"  # payload["visits"][...]["technician"]: visits called off
TECHNICIAN_AUDIENCES = (TECHNICIAN, PREVIOUS_TECHNICIAN, VISIT_TECHNICIANS)


# The insights app's breach kinds, in words.
SLA_WORDS = {
    "sla.stage_overdue": gettext_lazy("the stage is overdue"),
    "sla.no_show": gettext_lazy("the technician did not check in"),
    "sla.approval_overdue": gettext_lazy("the consumer's approval is overdue"),
    "sla.installment_overdue": gettext_lazy("an installment is overdue"),
}


@dataclass(frozen=True)
class Planned:
    audience: str
    kind: str
    technicians: tuple[int, ...] = ()  # the technician audiences' people (ids from the payload)


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    # The variables as text, for SMS providers that send approved templates (notifications.sms_aliyun).
    params: dict | None = None


def _sub(state: str) -> str:
    return state.partition(":")[2]


# The routing table. By event kind ("sla." : any kind starting so), then, for the engine's stage moves
# ("stage.<trigger>"), by the state moved to: "completed", "cancelled", or ":<sub-state>" of a stage.
# A route's audience is CONSUMER, STORE, BRAND, PLATFORM or a technician audience (TECHNICIAN_KEYS: whom the
# payload names); `only` names a condition of the event (CONDITIONS).
ROUTES: dict[str, tuple[tuple[str, str, str | None], ...]] = {
    "order.created": ((CONSUMER, "order.created", None),),
    # the visit's technician hears of it too: given to them (at booking, by staff), moved, taken off them
    "stage.book": ((CONSUMER, "appointment.booked", None), (TECHNICIAN, "job.assigned", None)),
    "stage.reschedule": ((CONSUMER, "appointment.moved", None), (TECHNICIAN, "job.moved", "same_technician"),
                         (TECHNICIAN, "job.assigned", "other_technician"),
                         (PREVIOUS_TECHNICIAN, "job.unassigned", "taken_off")),
    "appointment.assigned": ((TECHNICIAN, "job.assigned", "other_technician"),
                             (PREVIOUS_TECHNICIAN, "job.unassigned", "taken_off")),
    "job.checked_in": ((CONSUMER, "technician.arrived", None),),
    "job.no_show": ((CONSUMER, "visit.missed", None), (STORE, "visit.no_show", None)),
    "installment.due": ((CONSUMER, "installment.due", None),),
    "payment.captured": ((CONSUMER, "payment.received", None),),
    "voucher.issued": ((CONSUMER, "voucher.issued", None),),
    "voucher.expiring": ((CONSUMER, "voucher.expiring", None),),
    "sla.": ((STORE, "sla.breached", None),),
    # a breach nobody resolved (insights.escalation): the brand's admins, then the platform's operators
    "breach.escalated_to_brand": ((BRAND, "sla.escalated_brand", None),),
    "breach.escalated_to_platform": ((PLATFORM, "sla.escalated_platform", None),),
    # money a person must settle at the provider
    "refund.failed": ((STORE, "refund.failed", None),),
    "refund.stuck": ((STORE, "refund.stuck", None),),
    "payment.amount_mismatch": ((STORE, "payment.amount_mismatch", None),),
    "refund.amount_mismatch": ((STORE, "refund.amount_mismatch", None),),
    "payment.notification_rejected": ((STORE, "payment.notification_rejected", None),),
    "refund.unrecognised": ((STORE, "refund.unrecognised", None),),
    "payment.reconciliation_difference": ((STORE, "payment.reconciliation_difference", None),),
    # a check-in too far away or too vaguely located: the store confirms the technician is on site
    "job.checkin_flagged": ((STORE, "checkin.flagged", None),),
    # price revisions (增减项): the consumer is asked; the store hears the answer
    "revision.proposed": ((CONSUMER, "revision.proposed", None),),
    "revision.accepted": ((STORE, "revision.accepted", None),),
    "revision.declined": ((STORE, "revision.declined", None),),
    # an SMS refused for good (bad number, template problem): a person at the store reaches the consumer otherwise
    "notification.undeliverable": ((STORE, "notification.undeliverable", None),),
    # 1-2 stars: the store hears at once
    "rating.given": ((STORE, "rating.low", "low"),),
}
STAGE_ROUTES: dict[str, tuple[tuple[str, str, str | None], ...]] = {
    "completed": ((CONSUMER, "order.completed", None),),
    "cancelled": ((CONSUMER, "order.cancelled", None), (STORE, "order.cancelled_by_consumer", "by_consumer"),
                  (VISIT_TECHNICIANS, "job.cancelled", None)),
    ":awaiting_approval": ((CONSUMER, "approval.requested", "newly"),),
    ":escalated": ((STORE, "stage.escalated", None),),
    # A new stage is open for the consumer; the template asks them to book when it is a visit.
    ":ready": ((CONSUMER, "stage.ready", "opened"),),
}
CONDITIONS = {
    "by_consumer": lambda event: event.actor_role not in policy.STAFF,
    "newly": lambda event: (event.from_state or "") != (event.to_state or ""),
    "opened": lambda event: event.trigger in ("unblock", "complete", "approve"),
    "low": lambda event: bool((event.payload or {}).get("low")),
    # a visit moved (not a missed one rebooked) kept its technician / went to another one
    "same_technician": lambda event: _moved(event) and _ids(event, "previous") == _ids(event, "technician"),
    "other_technician": lambda event: not (_moved(event) and _ids(event, "previous") == _ids(event, "technician")),
    "taken_off": lambda event: _moved(event) and bool(_ids(event, "previous"))
    and _ids(event, "previous") != _ids(event, "technician"),
}


def _moved(event) -> bool:
    return not (event.payload or {}).get("missed")


def _ids(event, key: str) -> tuple[int, ...]:
    """The technician ids under `key` of the payload ("visits": each visit's), in order, once each."""
    payload = event.payload or {}
    found = [v.get("technician") for v in payload.get("visits") or () if isinstance(v, dict)] \
        if key == "visits" else [payload.get(key)]
    return tuple(dict.fromkeys(i for i in found if isinstance(i, int) and not isinstance(i, bool)))


TECHNICIAN_KEYS = {TECHNICIAN: "technician", PREVIOUS_TECHNICIAN: "previous", VISIT_TECHNICIANS: "visits"}


def plan(event) -> list[Planned]:
    """The messages an event calls for (ROUTES). Reads only the event's own fields."""
    kind, to_state = event.kind, event.to_state or ""
    routes = ROUTES.get(kind) or (ROUTES["sla."] if kind.startswith("sla.") else None)
    if routes is None and kind.startswith("stage."):
        routes = STAGE_ROUTES.get(to_state) or STAGE_ROUTES.get(f":{_sub(to_state)}") if to_state else None
    planned = []
    for audience, message, only in routes or ():
        if only is not None and not CONDITIONS[only](event):
            continue
        people = _ids(event, TECHNICIAN_KEYS[audience]) if audience in TECHNICIAN_KEYS else ()
        if audience in TECHNICIAN_KEYS and not people:
            continue  # nobody to tell (a visit without a technician)
        planned.append(Planned(audience, message, people))
    return planned


def technician_payload(audience: str, payload: dict, technician_id: int) -> dict:
    """The event's payload as one technician's message reads it: the window of *their* visit (the new one when
    a visit is given to them or moved; the one taken off them; their visit an order's cancellation called off)."""
    if audience == VISIT_TECHNICIANS:
        mine = next((v for v in payload.get("visits") or () if v.get("technician") == technician_id), {})
        return {**payload, "window_start": mine.get("window_start"), "window_end": mine.get("window_end")}
    if audience == PREVIOUS_TECHNICIAN and payload.get("from"):  # moved away from them: their old window
        return {**payload, "to": None, "window_start": payload["from"], "window_end": None}
    return payload


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
    address: str = ""
    # The names of the stages the payload's "installments" list names (several installments due at once).
    stage_names: dict[int, str] | None = None


# Message templates: plain text (no HTML escaping), the i18n tags built in.
ENGINE = Engine(dirs=[Path(__file__).resolve().parent / "templates" / "notifications" / "messages"],
                autoescape=False, builtins=["django.templatetags.i18n"])
KINDS = frozenset(p.stem for p in Path(ENGINE.dirs[0]).glob("*.txt"))


def _amount(payload: dict, currency: str) -> str:
    for key in ("amount", "amount_due", "due_amount", "total"):
        if payload.get(key) not in (None, ""):
            return display.money(payload[key], payload.get("currency") or currency)
    return ""


def _parts(ctx: Context) -> str:
    """Several installments due at once (payload "installments"): each one's stage and amount, in one line."""
    items = [i for i in ctx.payload.get("installments") or () if isinstance(i, dict)]
    if len(items) < 2:
        return ""
    currency = ctx.payload.get("currency") or ctx.currency
    names = ctx.stage_names or {}
    return _(", ").join(f"{names.get(i.get('stage'), '')} {display.money(i.get('amount'), currency)}".strip()
                        for i in items)


def _reported(payload: dict) -> str:
    """The amount a provider reported, in its currency, shown like ours when the currency is one we know."""
    amount, currency = payload.get("reported_amount"), payload.get("reported_currency") or ""
    if not amount:
        return _("an amount")
    try:
        return display.money(amount, currency) or f"{amount} {currency}".strip()
    except (KeyError, ValueError):
        return f"{amount} {currency}".strip()


def _checkin_words(p: dict) -> str:
    words = {"outside_radius": _("%(m)s m from the address") % {"m": p.get("distance_m")},
             "low_accuracy": _("located only to within %(m)s m") % {"m": p.get("accuracy_m")}}
    return _("; ").join(words[r] for r in p.get("reasons", ()) if r in words) or _("an unreliable location")


ADDRESS_SHORT = 24  # characters of the service address a technician's SMS shows


def _short_address(address: str) -> str:
    """The address's first characters (an SMS stays short; the job shows it whole)."""
    text = " ".join((address or "").split())
    return text if len(text) <= ADDRESS_SHORT else text[:ADDRESS_SHORT - 1].rstrip() + "…"


def _values(ctx: Context) -> dict:
    """The template's variables, formatted in the active language (core.display)."""
    p, tz = ctx.payload, ctx.tz
    rule = p.get("_event_kind", "")
    return {
        "n": ctx.order_number, "store": ctx.store_name, "stage": ctx.stage_name or _("the next step"),
        "link": ctx.tracking_url, "who": ctx.technician_name, "needs_booking": ctx.needs_booking,
        "when": display.when(p.get("to") or p.get("window_start"), tz=tz),
        "window": display.window(p.get("to") or p.get("window_start"), p.get("window_end"), tz=tz),
        "address": _short_address(ctx.address),
        "until": display.when(p.get("expires_at") or p.get("valid_until"), tz=tz),
        "parts": _parts(ctx),
        "amount": _amount(p, ctx.currency) or (_("another amount") if "amount_mismatch" in rule else ""),
        "reported": _reported(p),
        "previous": display.money(p["previous_amount"], p.get("currency") or ctx.currency)
        if p.get("previous_amount") else "",
        "hours": p.get("hours") or _("many"),
        "reason": p.get("reason") or "",
        # check-ins flagged (fieldwork), provider reconciliation (payments), ratings (portal)
        "where": _checkin_words(p),
        "radius": p.get("radius_m") or "?",
        "day": p.get("day") or "?", "difference": p.get("difference") or "?",
        "ledger": p.get("ledger") or "?", "provider_says": p.get("provider_says") or "?",
        "score": p.get("score") or "?", "comment": p.get("comment") or "",
        # a breach's kind in words: its own event's, or the breach an escalation names (payload "kind")
        "rule": str(SLA_WORDS.get(rule) or SLA_WORDS.get(f"sla.{p.get('kind')}") or p.get("rule") or rule or "SLA"),
    }


def render(kind: str, ctx: Context, language: str | None = None) -> Rendered:
    """Message `kind` in `language` (the default language when None): its subject and its text."""
    with override(language):
        values = _values(ctx)
        text = ENGINE.get_template(f"{kind if kind in KINDS else 'update'}.txt").render(
            TemplateContext(values, autoescape=False))
        params = {k: str(v).replace("\u202f", " ") for k, v in values.items() if not isinstance(v, bool)}
    subject, _newline, body = text.strip().partition("\n")
    # CLDR's narrow no-break spaces ("2:00 PM") become plain spaces: an SMS is a plain-text channel.
    return Rendered(subject.strip(), body.strip().replace("\u202f", " "), params)
