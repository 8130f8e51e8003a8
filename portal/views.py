"""The consumer's tracking page: `/track/<token>/`, opened from a signed link without logging in.

The page reads the order, its stages, visits, installments and vouchers in a fixed number of
queries. The Pay button posts to `/track/<token>/pay/<installment>/`, which starts a payment through
the payments app's service and redirects to the provider's checkout with a return link to this page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode, urlsplit

from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from core.errors import DomainError
from core.money import display
from notifications.services import tracking_order_for_token, tracking_url
from payments import services as payment_services
from payments.channels import CHANNELS
from payments.models import Installment
from payments.selectors import order_money_summary
from vouchers import codes as voucher_codes
from vouchers import crypto
from vouchers.models import Voucher
from workflows.models import Appointment, ServiceOrder, StageInstance
from workflows.selectors import stage_visit_missed

logger = logging.getLogger("portal")
S = StageInstance.State

SECURITY_HEADERS = {
    # The link is the key: keep it out of Referer headers sent elsewhere (same-origin keeps the
    # Origin header of our own Pay form, which the CSRF check needs), caches and search engines.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store, private",
    "X-Robots-Tag": "noindex, nofollow",
}


@dataclass
class StageView:
    position: int
    name: str
    code: str
    state: str
    status: str  # done, current, upcoming, cancelled
    label: str
    detail: str = ""


@dataclass
class InstallmentView:
    pk: int
    stage_name: str
    amount: str
    state: str
    label: str
    payable: bool
    timing: str
    paid_at: object = None


@dataclass
class VoucherView:
    stage_name: str
    state: str
    label: str
    code_display: str
    valid_until: object
    qr_svg: str = ""


@dataclass
class TrackingPage:
    order: ServiceOrder
    stages: list[StageView]
    progress_percent: int
    done_count: int
    headline: str
    next_action: str
    next_appointment: Appointment | None
    installments: list[InstallmentView] = field(default_factory=list)
    total: str = ""
    paid_total: str = ""
    due_total: str = ""
    outstanding_total: str = ""
    vouchers: list[VoucherView] = field(default_factory=list)
    # The brand's channels a phone browser can pay through (name, label): one Pay button each.
    channels: list[tuple[str, str]] = field(default_factory=list)


STATUS_LABELS = {"done": "Done", "current": "Now", "upcoming": "Later", "cancelled": "Cancelled"}
# Installment states in the consumer's words.
INSTALLMENT_LABELS = {"scheduled": "Not due yet", "due": "Due now", "processing": "Being paid",
                      "failed": "Payment failed: try again", "waived": "Nothing to pay"}


def _stage_status(stage: StageInstance, order: ServiceOrder) -> str:
    if stage.state == S.DONE:
        return "done"
    if stage.state == S.CANCELLED:
        return "cancelled"
    if order.status == ServiceOrder.Status.ACTIVE and stage.pk == order.current_stage_id and stage.state != S.PENDING:
        return "current"
    return "upcoming"


def _when(dt, tz) -> str:
    return dt.astimezone(tz).strftime("%a %d %b, %H:%M") if dt else ""


def _headline(order: ServiceOrder, current: StageInstance | None, appointment: Appointment | None,
              due_amount: str, tz, missed: bool = False) -> tuple[str, str]:
    """(where the order stands, what the consumer must do next), in plain words."""
    if order.status == ServiceOrder.Status.COMPLETED:
        return "Your order is complete. Thank you!", "Nothing: all done."
    if order.status == ServiceOrder.Status.CANCELLED:
        return "This order was cancelled.", "Nothing. Any refund due is on its way."
    if order.state == "closing":
        return ("All the work is done; the final payment is due.",
                f"Pay {due_amount} below." if due_amount else "Pay the final installment below.")
    if current is None:
        return "Your order is being prepared.", "Nothing yet: we will message you."
    name, sub = current.definition.name, current.state
    if sub == S.WAITING_PAYMENT:
        return (f"{name}: waiting for your payment.",
                f"Pay {due_amount} below to continue." if due_amount else "Pay the installment below to continue.")
    if sub == S.READY:
        if current.definition.requires_appointment:
            return (f"{name} is ready: book a visit.",
                    "Book a visit time in the app, or call the store.")
        return f"{name}: the store is working on it.", "Nothing yet: we will message you when it is ready."
    if sub == S.SCHEDULED and missed:
        return (f"{name}: we are sorry, the technician did not come.",
                "Pick a new time in the app, or the store will call you to arrange one.")
    if sub == S.SCHEDULED:
        when = _when(appointment.window_start, tz) if appointment else ""
        return (f"{name}: visit booked{' for ' + when if when else ''}.",
                "Be at home for the visit and have your e-voucher ready." if current.definition.requires_voucher
                else "Be at home for the visit.")
    if sub == S.IN_PROGRESS:
        return f"{name} is under way.", "Nothing: we will tell you when it is done."
    if sub == S.AWAITING_APPROVAL:
        return (f"{name} is ready for your approval.",
                "Review it in the app, then approve it or ask for changes.")
    if sub == S.ESCALATED:
        return f"{name}: the store is looking into your feedback.", "Nothing: the store will contact you."
    return f"{name}.", ""


def _installments(order: ServiceOrder, stage_names: dict[int, str]) -> tuple[list[InstallmentView], str, str, str]:
    rows = list(Installment.objects.filter(order=order).order_by("position", "pk"))
    payable_states = set(Installment.PAYABLE_STATES)
    open_states = set(Installment.OPEN_STATES)
    labels = dict(Installment.State.choices)
    views, due, outstanding = [], Decimal(0), Decimal(0)
    for inst in rows:
        state = str(inst.state)
        views.append(InstallmentView(
            pk=inst.pk, stage_name=stage_names.get(inst.stage_id, ""), amount=display(inst.amount, inst.currency),
            state=state,
            label=INSTALLMENT_LABELS.get(state) or labels.get(state, state.replace("_", " ").capitalize()),
            payable=state in payable_states, timing=inst.timing, paid_at=inst.paid_at,
        ))
        if state in payable_states:
            due += inst.amount
        if state in open_states:
            outstanding += inst.amount
    paid = _net_paid(order) if rows else Decimal(0)
    cur = order.currency
    return views, display(paid, cur), display(due, cur), display(outstanding, cur)


def _net_paid(order: ServiceOrder) -> Decimal:
    """The order detail's `money.net_paid` (from the ledger): a partial refund shows, and a double payment that
    was sent back counts once."""
    return order_money_summary(order).net_paid


def _qr_svg(text: str) -> str:
    import segno

    qr = segno.make(text, error="m")
    return qr.svg_inline(scale=5, border=2, dark="#111111", light="#ffffff", omitsize=True)


def _vouchers(order: ServiceOrder, stage_names: dict[int, str], tz) -> list[VoucherView]:
    live = Voucher.objects.filter(order=order).order_by("issued_at", "pk")
    views = []
    labels = dict(Voucher.State.choices)
    for v in live:
        state = str(v.state)
        if state not in ("issued", "redeemed"):
            continue
        code_display, svg = "", ""
        if state == "issued":
            code = crypto.decrypt(v.code_encrypted)
            if code:
                code_display, svg = voucher_codes.display(code), _qr_svg(code)
        views.append(VoucherView(
            stage_name=stage_names.get(v.stage_id, ""), state=state, label=labels.get(state, state),
            code_display=code_display, valid_until=v.valid_until, qr_svg=svg,
        ))
    return views


def tracking_page_build(order: ServiceOrder) -> TrackingPage:
    """Everything the tracking page shows, read in a fixed number of queries."""
    tz = order.store.tzinfo
    stages = list(order.stages.select_related("definition").order_by("position"))
    stage_names = {s.pk: s.definition.name for s in stages}
    now = timezone.now()
    appointment = (
        Appointment.objects.filter(order=order, state__in=Appointment.ACTIVE_STATES, window_end__gte=now)
        .select_related("stage__definition", "technician").order_by("window_start").first()
    )
    installments, paid, due, outstanding = _installments(order, stage_names)
    current = next((s for s in stages if s.pk == order.current_stage_id), None)
    # No upcoming visit while the stage is scheduled: its visit may have been missed (asked only then).
    missed = (appointment is None and current is not None and current.state == S.SCHEDULED
              and stage_visit_missed(stage_id=current.pk))
    headline, next_action = _headline(order, current, appointment, due, tz, missed)
    views = []
    for s in stages:
        status = _stage_status(s, order)
        views.append(StageView(position=s.position, name=s.definition.name, code=s.definition.code, state=s.state,
                               status=status, label=dict(S.choices).get(s.state, s.state)
                               if status == "current" else STATUS_LABELS[status]))
    done = sum(1 for v in views if v.status == "done")
    percent = 100 if order.status == ServiceOrder.Status.COMPLETED else round(100 * done / max(len(views), 1))
    return TrackingPage(
        order=order, stages=views, progress_percent=percent, done_count=done, headline=headline,
        next_action=next_action, next_appointment=appointment, installments=installments,
        total=display(order.total_amount, order.currency), paid_total=paid,
        due_total=due, outstanding_total=outstanding, vouchers=_vouchers(order, stage_names, tz),
        channels=_browser_channels(order) if any(i.payable for i in installments) else [],
    )


def _browser_channels(order: ServiceOrder) -> list[tuple[str, str]]:
    """The channels of the order's brand that end in a redirect (the sandbox, Alipay, WeChat Pay H5); WeChat's
    JSAPI needs the payer's openid and Native a second screen, so the page does not offer them."""
    names = payment_services.available_channels(order.merchant_id, order.currency)
    return [(n, str(CHANNELS[n].label)) for n in names if CHANNELS[n].action == "redirect"]


class InvalidLink(Http404):
    pass


def _order_or_404(token: str) -> ServiceOrder:
    order = tracking_order_for_token(token, ServiceOrder.objects.select_related("store", "merchant"))
    if order is None:
        raise InvalidLink("This tracking link is not valid (any more). Ask the store for a new one.")
    return order


def _invalid(request):
    return _respond(request, "portal/tracking_invalid.html", {}, status=404)


def _respond(request, template: str, context: dict, status: int = 200):
    response = render(request, template, context, status=status)
    for key, value in SECURITY_HEADERS.items():
        response[key] = value
    return response


@require_GET
def tracking_page(request, token: str):
    try:
        order = _order_or_404(token)
    except InvalidLink:
        return _invalid(request)
    page = tracking_page_build(order)
    message = {"paid": "Thank you for your payment."}.get(request.GET.get("payment", ""))
    return _respond(request, "portal/tracking.html", {
        "page": page, "order": order, "token": token, "tz": order.store.timezone, "message": message,
    })


def _start_payment(installment, order: ServiceOrder, return_url: str, channel: str, client_ip: str) -> str:
    """Start paying the installment through the payments app (as the order's consumer, whom the
    signed link stands for) through `channel` (one of the page's buttons; none: the sandbox where it is on);
    returns the provider's checkout URL with the way back to this page."""
    if channel and (channel not in CHANNELS or CHANNELS[channel].action != "redirect"):
        raise DomainError("This page cannot pay through that channel.", code="channel_unavailable")
    payer = payment_services.Payer(client_ip=client_ip, return_url=return_url)
    result = payment_services.installment_pay(installment=installment, actor=order.consumer, channel=channel,
                                              payer=payer)
    action = _redirect_action(result.payment)
    url = action.get("url", "") if action.get("type") == "redirect" else ""
    if not url:
        raise DomainError("The payment could not be opened at the provider; try again in a moment.",
                          code="no_checkout")
    if result.payment.provider != "sandbox":
        return url  # the provider sends the payer back to return_url itself
    sep = "&" if urlsplit(url).query else "?"
    return f"{url}{sep}{urlencode({'return': return_url})}"


def _redirect_action(payment) -> dict:
    return dict(payment.action or {}) or ({"type": "redirect", "url": payment.checkout_url}
                                          if payment.checkout_url else {})


@require_POST
def tracking_pay(request, token: str, installment_id: int):
    try:
        order = _order_or_404(token)
    except InvalidLink:
        return _invalid(request)
    installment = Installment.objects.filter(pk=installment_id, order=order).first()
    if installment is None:
        raise Http404("No such installment.")
    return_url = request.build_absolute_uri(f"{tracking_url(order)}?payment=paid")
    try:
        checkout_url = _start_payment(installment, order, return_url, request.POST.get("channel", "")[:40],
                                      request.META.get("REMOTE_ADDR", ""))
    except DomainError as exc:
        logger.info("tracking pay for order %s refused: %s", order.pk, exc.detail)
        page = tracking_page_build(order)
        return _respond(request, "portal/tracking.html", {
            "page": page, "order": order, "token": token, "tz": order.store.timezone, "message": exc.detail,
        }, status=exc.status_code if exc.status_code < 500 else 400)
    response = HttpResponseRedirect(checkout_url)
    for key, value in SECURITY_HEADERS.items():
        response[key] = value
    return response
