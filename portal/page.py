"""Everything the consumer's page shows, read in a fixed number of queries whatever the order's size: the stages
with their visits, the store's submitted files, the technicians' photos and the rework rounds; the installments
and what is due now; the vouchers as QR codes; the history in words; the rating. What the consumer may do next
(the slots to book or move a visit to) is read only for a device with a live session."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.display import money as display
from fieldwork.models import Evidence
from payments import services as payment_services
from payments.channels import CHANNELS
from payments.models import Installment, PriceRevision
from payments.selectors import order_money_summary
from portal import timeline
from portal.conf import setting
from portal.models import Rating
from vouchers import codes as voucher_codes
from vouchers import crypto
from vouchers.models import Voucher
from workflows.models import Appointment, OrderEvent, ServiceOrder, StageInstance, StageSubmissionFile
from workflows.services import appointment_slots

S = StageInstance.State
A = Appointment.State

STATUS_LABELS = {"done": gettext_lazy("Done"), "current": gettext_lazy("Now"), "upcoming": gettext_lazy("Later"),
                 "cancelled": gettext_lazy("Cancelled")}
STATE_WORDS = {
    S.PENDING: gettext_lazy("Not started"), S.WAITING_PAYMENT: gettext_lazy("Waiting for your payment"),
    S.READY: gettext_lazy("Ready"), S.SCHEDULED: gettext_lazy("Visit booked"),
    S.IN_PROGRESS: gettext_lazy("In progress"), S.AWAITING_APPROVAL: gettext_lazy("Waiting for your approval"),
    S.ESCALATED: gettext_lazy("The store is looking into it"), S.DONE: gettext_lazy("Done"),
    S.CANCELLED: gettext_lazy("Cancelled"),
}
VISIT_WORDS = {A.BOOKED: gettext_lazy("Booked"), A.CHECKED_IN: gettext_lazy("Technician on site"),
               A.CHECKED_OUT: gettext_lazy("Visit finished"), A.NO_SHOW: gettext_lazy("Technician did not come"),
               A.CANCELLED: gettext_lazy("Moved")}
INSTALLMENT_LABELS = {"scheduled": gettext_lazy("Not due yet"), "due": gettext_lazy("Due now"),
                      "processing": gettext_lazy("Being paid"), "paid": gettext_lazy("Paid"),
                      "failed": gettext_lazy("Payment failed: try again"), "waived": gettext_lazy("Nothing to pay"),
                      "cancelled": gettext_lazy("Cancelled"), "refunded": gettext_lazy("Refunded")}


@dataclass
class FileView:
    pk: int
    name: str
    is_image: bool
    is_pdf: bool


@dataclass
class VisitView:
    pk: int
    state: str
    label: str
    window_start: object
    window_end: object
    technician: str
    movable: bool = False


@dataclass
class StageView:
    pk: int
    position: int
    name: str
    code: str
    state: str
    status: str  # done, current, upcoming, cancelled
    label: str
    state_words: str
    requires_appointment: bool = False
    needs_approval: bool = False  # waiting for the consumer's approval now
    needs_signature: bool = False  # approving it takes the consumer's drawn signature
    bookable: bool = False  # ready for a visit to be booked now
    notes: str = ""
    files: list[FileView] = field(default_factory=list)
    photos: list[int] = field(default_factory=list)
    visits: list[VisitView] = field(default_factory=list)
    rework: list[dict] = field(default_factory=list)


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
class RevisionView:
    """An open price revision (增减项) the consumer is asked to accept or decline."""

    pk: int
    old_total: str
    new_total: str
    reason: str
    lines: list[tuple[str, str]]  # (description, signed amount in words: "+CN¥1,500.00")


@dataclass
class RatingView:
    score: int = 0
    comment: str = ""
    visits: dict = field(default_factory=dict)  # appointment id -> score
    changeable: bool = True
    given: bool = False


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
    history: list[dict] = field(default_factory=list)
    slots: list = field(default_factory=list)  # bookable windows for the current stage (with a session)
    rateable_visits: list[VisitView] = field(default_factory=list)
    rating: RatingView | None = None
    rateable: bool = False
    # The brand's channels a phone browser can pay through (name, label): one Pay button each.
    channels: list[tuple[str, str]] = field(default_factory=list)
    revision: RevisionView | None = None

    @property
    def signing(self) -> bool:
        """A stage waits for a signed approval: only then does the page load the signature pad (the rest of the
        page works without JavaScript)."""
        return any(s.needs_approval and s.needs_signature for s in self.stages)


def _browser_channels(order: ServiceOrder) -> list[tuple[str, str]]:
    """The channels of the order's brand that end in a redirect (the sandbox, Alipay, WeChat Pay H5); WeChat's
    JSAPI needs the payer's openid and Native a second screen, so the page does not offer them."""
    names = payment_services.available_channels(order.merchant_id, order.currency)
    return [(n, str(CHANNELS[n].label)) for n in names if CHANNELS[n].action == "redirect"]


def _stage_status(stage: StageInstance, order: ServiceOrder) -> str:
    if stage.state == S.DONE:
        return "done"
    if stage.state == S.CANCELLED:
        return "cancelled"
    if order.status == ServiceOrder.Status.ACTIVE and stage.pk == order.current_stage_id and stage.state != S.PENDING:
        return "current"
    return "upcoming"


def _when(dt, tz) -> str:
    return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M") if dt else ""


def _headline(order: ServiceOrder, current: StageInstance | None, appointment: Appointment | None,
              due_amount: str, tz, missed: bool = False) -> tuple[str, str]:
    """(where the order stands, what the consumer must do next), in plain words."""
    if order.status == ServiceOrder.Status.COMPLETED:
        return _("Your order is complete. Thank you!"), _("Tell us how it went: rate the service below.")
    if order.status == ServiceOrder.Status.CANCELLED:
        return _("This order was cancelled."), _("Nothing. Any refund due is on its way.")
    if order.state == "closing":
        return (_("All the work is done; the final payment is due."),
                _("Pay %(amount)s below.") % {"amount": due_amount} if due_amount
                else _("Pay the final installment below."))
    if current is None:
        return _("Your order is being prepared."), _("Nothing yet: we will message you.")
    name, sub = current.definition.name, current.state
    if sub == S.WAITING_PAYMENT:
        return (_("%(stage)s: waiting for your payment.") % {"stage": name},
                _("Pay %(amount)s below to continue.") % {"amount": due_amount} if due_amount
                else _("Pay the installment below to continue."))
    if sub == S.READY:
        if current.definition.requires_appointment:
            return (_("%(stage)s is ready: book a visit.") % {"stage": name},
                    _("Book a visit time below, or call the store."))
        return (_("%(stage)s: the store is working on it.") % {"stage": name},
                _("Nothing yet: we will message you when it is ready."))
    if sub == S.SCHEDULED and missed:
        return (_("%(stage)s: we are sorry, the technician did not come.") % {"stage": name},
                _("Pick a new time below, or the store will call you to arrange one."))
    if sub == S.SCHEDULED:
        if appointment:
            headline = _("%(stage)s: visit booked for %(when)s.") % {"stage": name,
                                                                      "when": _when(appointment.window_start, tz)}
        else:
            headline = _("%(stage)s: visit booked.") % {"stage": name}
        return (headline, _("Be at home for the visit and have your e-voucher ready.")
                if current.definition.requires_voucher else _("Be at home for the visit."))
    if sub == S.IN_PROGRESS:
        return _("%(stage)s is under way.") % {"stage": name}, _("Nothing: we will tell you when it is done.")
    if sub == S.AWAITING_APPROVAL:
        return (_("%(stage)s is ready for your approval.") % {"stage": name},
                _("Review it below, then approve it or ask for changes."))
    if sub == S.ESCALATED:
        return (_("%(stage)s: the store is looking into your feedback.") % {"stage": name},
                _("Nothing: the store will contact you."))
    return f"{name}.", ""


def _installments(order: ServiceOrder, stage_names: dict[int, str]) -> tuple[list[InstallmentView], str, str, str]:
    rows = list(Installment.objects.filter(order=order).order_by("position", "pk"))
    payable_states = set(Installment.PAYABLE_STATES)
    open_states = set(Installment.OPEN_STATES)
    views, due, outstanding = [], Decimal(0), Decimal(0)
    for inst in rows:
        state = str(inst.state)
        views.append(InstallmentView(
            pk=inst.pk, stage_name=stage_names.get(inst.stage_id, ""), amount=display(inst.amount, inst.currency),
            state=state, label=str(INSTALLMENT_LABELS.get(state, state)),
            payable=state in payable_states, timing=inst.timing, paid_at=inst.paid_at,
        ))
        if state in payable_states:
            due += inst.amount
        if state in open_states:
            outstanding += inst.amount
    # The ledger's net: a partial refund shows, and a double payment that was sent back counts once.
    paid = order_money_summary(order).net_paid if rows else Decimal(0)
    cur = order.currency
    return views, display(paid, cur), display(due, cur), display(outstanding, cur)


def _qr_svg(code: str) -> str:
    return voucher_codes.qr(code).svg_inline(scale=5, border=4, dark="#111111", light="#ffffff", omitsize=True)


def _vouchers(order: ServiceOrder, stage_names: dict[int, str]) -> list[VoucherView]:
    views = []
    labels = {"issued": _("Ready to use"), "redeemed": _("Used")}
    for v in Voucher.objects.filter(order=order, state__in=("issued", "redeemed")).order_by("issued_at", "pk"):
        state = str(v.state)
        code_display, svg = "", ""
        if state == "issued":
            code = crypto.decrypt(v.code_encrypted)
            if code:
                code_display, svg = voucher_codes.display(code), _qr_svg(code)
        views.append(VoucherView(stage_name=stage_names.get(v.stage_id, ""), state=state, label=labels[state],
                                 code_display=code_display, valid_until=v.valid_until, qr_svg=svg))
    return views


def _visit_view(a: Appointment, live: bool) -> VisitView:
    tech = a.technician
    name = (tech.get_full_name() or tech.first_name or tech.username) if tech else ""
    return VisitView(pk=a.pk, state=a.state, label=str(VISIT_WORDS.get(a.state, a.state)),
                     window_start=a.window_start, window_end=a.window_end, technician=name,
                     movable=live and a.state == A.BOOKED)


def _revision(order: ServiceOrder, events: list[OrderEvent]) -> RevisionView | None:
    """The open revision, read only when the order's last revision event is a proposal (the events are loaded
    anyway: an order without one costs no query)."""
    last = next((e for e in reversed(events) if e.kind.startswith("revision.")), None)
    if last is None or last.kind != "revision.proposed" or order.status != ServiceOrder.Status.ACTIVE:
        return None
    rev = PriceRevision.objects.filter(order=order, pk=(last.payload or {}).get("revision"),
                                       status=PriceRevision.Status.OPEN).first()
    if rev is None:
        return None
    lines = [(line["description"], ("+" if Decimal(line["amount"]) > 0 else "-")
              + display(abs(Decimal(line["amount"])), rev.currency)) for line in rev.lines]
    return RevisionView(pk=rev.pk, old_total=display(rev.old_total, rev.currency),
                        new_total=display(rev.new_total, rev.currency), reason=rev.reason, lines=lines)


def _rating(order: ServiceOrder) -> RatingView | None:
    rating = Rating.objects.filter(order=order).prefetch_related("visits").first()
    if rating is None:
        return None
    window = timezone.timedelta(days=setting("PORTAL_RATING_CHANGE_DAYS"))
    return RatingView(score=rating.score, comment=rating.comment, given=True,
                      visits={v.appointment_id: v.score for v in rating.visits.all()},
                      changeable=timezone.now() < rating.created_at + window)


def tracking_page_build(order: ServiceOrder, *, live: bool = False) -> TrackingPage:
    """Everything the page shows. `live`: the device has a session for the order (then the bookable slots are
    read too)."""
    tz = order.store.tzinfo
    now = timezone.now()
    stages = list(order.stages.select_related("definition").order_by("position"))
    stage_names = {s.pk: s.definition.name for s in stages}
    files: dict[int, list[FileView]] = {}
    for f in StageSubmissionFile.objects.filter(stage__order=order).order_by("pk").only(
            "pk", "stage_id", "original_name", "content_type"):
        files.setdefault(f.stage_id, []).append(FileView(
            pk=f.pk, name=f.original_name, is_image=f.content_type.startswith("image/"),
            is_pdf=f.content_type == "application/pdf"))
    photos: dict[int, list[int]] = {}
    for stage_id, pk in (Evidence.objects.filter(order=order, content_type__startswith="image/")
                         .order_by("recorded_at", "pk").values_list("stage_id", "pk")):
        photos.setdefault(stage_id, []).append(pk)
    appointments = list(Appointment.objects.filter(order=order).select_related("technician", "stage__definition")
                        .order_by("window_start", "pk"))
    events = list(OrderEvent.objects.filter(order=order).order_by("seq").only(
        "seq", "kind", "stage_id", "to_state", "from_state", "created_at", "payload"))

    visits: dict[int, list[VisitView]] = {}
    for a in appointments:
        # Only the current stage's booked visit can be moved (the engine's reschedule acts on it).
        visits.setdefault(a.stage_id, []).append(_visit_view(a, live and a.stage_id == order.current_stage_id))
    rework: dict[int, list[dict]] = {}
    for e in events:
        if e.kind == "stage.reject":
            rounds = rework.setdefault(e.stage_id, [])
            rounds.append({"round": len(rounds) + 1, "reason": (e.payload or {}).get("reason", ""),
                           "at": e.created_at})

    upcoming = [a for a in appointments if a.state in Appointment.ACTIVE_STATES and a.window_end >= now]
    appointment = upcoming[0] if upcoming else None
    installments, paid, due, outstanding = _installments(order, stage_names)
    current = next((s for s in stages if s.pk == order.current_stage_id), None)
    missed = False
    if appointment is None and current is not None and current.state == S.SCHEDULED:
        kept = [a for a in appointments if a.stage_id == current.pk and a.state != A.CANCELLED]
        missed = bool(kept) and kept[-1].state == A.NO_SHOW
    headline, next_action = _headline(order, current, appointment, due, tz, missed)

    views = []
    for s in stages:
        status = _stage_status(s, order)
        is_current = status == "current"
        stage_visits = visits.get(s.pk, [])
        if missed and is_current and stage_visits:  # a missed visit is moved (rebooked) like a booked one
            stage_visits[-1].movable = live and stage_visits[-1].state == A.NO_SHOW
        views.append(StageView(
            pk=s.pk, position=s.position, name=s.definition.name, code=s.definition.code, state=s.state,
            status=status, label=str(STATE_WORDS.get(s.state, s.state)) if is_current else str(STATUS_LABELS[status]),
            state_words=str(STATE_WORDS.get(s.state, s.state)),
            requires_appointment=s.definition.requires_appointment,
            needs_approval=is_current and s.state == S.AWAITING_APPROVAL,
            needs_signature=s.definition.approval_requires_signature,
            bookable=is_current and s.state == S.READY and s.definition.requires_appointment,
            notes=s.submission_notes, files=files.get(s.pk, []), photos=photos.get(s.pk, []),
            visits=stage_visits, rework=rework.get(s.pk, []),
        ))
    done = sum(1 for v in views if v.status == "done")
    percent = 100 if order.status == ServiceOrder.Status.COMPLETED else round(100 * done / max(len(views), 1))

    slots = []
    if live and current is not None and any(v.bookable or any(x.movable for x in v.visits) for v in views):
        current.order = order
        slots = appointment_slots(stage=current, now=now)[: setting("PORTAL_SLOTS_SHOWN")]
    completed = order.status == ServiceOrder.Status.COMPLETED
    page = TrackingPage(
        order=order, stages=views, progress_percent=percent, done_count=done, headline=headline,
        next_action=next_action, next_appointment=appointment, installments=installments,
        total=display(order.total_amount, order.currency), paid_total=paid,
        due_total=due, outstanding_total=outstanding, vouchers=_vouchers(order, stage_names),
        history=timeline.history(events, stage_names, order=order), slots=slots,
        channels=_browser_channels(order) if any(i.payable for i in installments) else [],
        revision=_revision(order, events),
    )
    if page.revision is not None:
        page.next_action = _("The store proposes a new price: review it below, then accept or decline it.")
    if completed:
        page.rating = _rating(order)
        page.rateable = page.rating is None or page.rating.changeable
        page.rateable_visits = [_visit_view(a, False) for a in appointments
                                if a.state == A.CHECKED_OUT and a.technician_id]
    return page
