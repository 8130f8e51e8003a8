"""The order's page in the admin: the whole order in words, for the store's staff.

Stages and their states by name ("Design: waiting for approval", never `design:awaiting_approval`), the visits
with their technicians, the files and notes staff delivered, and the timeline of events in words; the parts
other apps own (payments and refunds, e-vouchers, check-ins and photos) come from the admin sections they
register in workflows.hooks, so this module imports none of them. A fixed number of queries whatever the
order's size: the order detail's loads (workflows.selectors.order_detail_load) and each section's load."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from workflows import hooks
from workflows.detail import submission_file_data
from workflows.events import declared_kinds
from workflows.models import Appointment, ServiceOrder, StageInstance
from workflows.selectors import order_detail_load, order_detail_queryset

S = StageInstance.State
A = Appointment.State

# The order's own states beside "<stage>:<stage state>".
ORDER_STATE_WORDS = {
    "completed": gettext_lazy("Completed"),
    "cancelled": gettext_lazy("Cancelled"),
    "closing": gettext_lazy("Waiting for the final payment"),
}
ROLE_WORDS = {
    "consumer": gettext_lazy("consumer"), "technician": gettext_lazy("technician"),
    "store_manager": gettext_lazy("store manager"), "merchant_admin": gettext_lazy("merchant admin"),
    "platform_operator": gettext_lazy("platform operator"),
}


def stage_state_words(state: str) -> str:
    try:
        return str(S(state).label)
    except ValueError:
        return state


def state_words(state: str, stage_names: dict[str, str]) -> str:
    """An engine state in the merchant's words: "Design: Waiting for approval", "Completed"."""
    if not state:
        return ""
    if state in ORDER_STATE_WORDS:
        return str(ORDER_STATE_WORDS[state])
    code, _sep, sub = state.partition(":")
    name = stage_names.get(code, code)
    return f"{name}: {stage_state_words(sub)}" if sub else name


def event_words(event: dict, stage_names: dict[str, str], stage_codes: dict[int, str]) -> dict:
    """One event of the timeline in words: what happened, who did it, and the state it moved the order to."""
    kind = declared_kinds().get(event["kind"])
    what = _(kind.meaning) if kind is not None else event["kind"]
    stage = stage_names.get(stage_codes.get(event["stage_id"], ""), "")
    actor = ""
    if event["actor_id"]:
        name = f"{event['actor__first_name']} {event['actor__last_name']}".strip() or event["actor__username"]
        role = ROLE_WORDS.get(event["actor_role"], event["actor_role"])
        actor = f"{name} ({role})" if role else name
    moved = ""
    if event["to_state"] and event["to_state"] != event["from_state"]:
        moved = state_words(event["to_state"], stage_names)
    reason = (event["payload"] or {}).get("reason") or (event["payload"] or {}).get("note") or ""
    return {"seq": event["seq"], "at": event["created_at"], "kind": event["kind"], "what": what, "stage": stage,
            "actor": actor or _("the system"), "moved_to": moved, "reason": reason if isinstance(reason, str) else ""}


def _name(first, last, username) -> str:
    return f"{first} {last}".strip() or username


def order_page_load(*, user, order_id) -> hooks.OrderDetailRows | None:
    """The order's rows for its page, or None when the user may not see it."""
    order = order_detail_queryset(user=user).filter(pk=order_id).first()
    if order is None:
        return None
    details = order_detail_load([order])
    hooks.load_admin_sections(details)
    return details[0]


def order_page_context(request, detail: hooks.OrderDetailRows, *, may) -> dict:
    """What the page shows, from the loaded rows only. `may(action)`: whether the viewer may take an action."""
    order: ServiceOrder = detail.order
    stage_names = {s["definition__code"]: s["definition__name"] for s in detail.stages}
    stage_codes = {s["id"]: s["definition__code"] for s in detail.stages}
    active = order.status == ServiceOrder.Status.ACTIVE
    current = next((s for s in detail.stages if s["id"] == order.current_stage_id), None)
    stages = []
    for s in detail.stages:
        files = [submission_file_data(stage_id=s["id"], **f) for f in detail.files.get(s["id"], ())]
        is_current = current is not None and s["id"] == current["id"]
        stages.append({
            "id": s["id"], "position": s["position"], "name": s["definition__name"], "code": s["definition__code"],
            "state": s["state"], "state_words": stage_state_words(s["state"]), "current": is_current,
            "rework_rounds": s["rework_rounds"], "sla_due_at": s["sla_due_at"], "completed_at": s["completed_at"],
            "notes": s["submission_notes"], "files": files, "on_site": s["definition__requires_appointment"],
            "can_submit": active and is_current and s["state"] == S.IN_PROGRESS
            and not s["definition__requires_appointment"] and may("stage.submit"),
            "can_start": active and is_current and s["state"] == S.READY
            and not s["definition__requires_appointment"] and may("stage.start_offsite"),
            "can_resume": active and is_current and s["state"] == S.ESCALATED and may("resume"),
            "can_book": active and is_current and s["state"] == S.READY
            and s["definition__requires_appointment"] and may("book"),
        })
    visits = []
    for a in detail.appointments:
        technician = (_name(a["technician__first_name"], a["technician__last_name"], a["technician__username"])
                      if a["technician_id"] else "")
        visits.append({
            "id": a["id"], "stage": stage_names.get(stage_codes.get(a["stage_id"], ""), ""),
            "technician": technician, "window_start": a["window_start"], "window_end": a["window_end"],
            "state": a["state"], "state_words": str(A(a["state"]).label), "moves": a["reschedule_count"],
            "can_assign": active and a["state"] == A.BOOKED and may("appointment.assign"),
            "can_move": active and a["state"] in (A.BOOKED, A.NO_SHOW) and may("reschedule"),
        })
    sections = [{"name": s.name, "title": s.title, "html": s.render(detail, request)}
                for s in hooks.admin_sections()]
    return {
        "order": order,
        "state_words": state_words(order.state, stage_names),
        "status_words": ServiceOrder.Status(order.status).label,
        "stages": stages,
        "visits": visits,
        "sections": [s for s in sections if s["html"]],
        "timeline": [event_words(e, stage_names, stage_codes) for e in reversed(detail.events)],
        "can_cancel": active and may("cancel"),
        "consumer_name": _name(order.consumer.first_name, order.consumer.last_name, order.consumer.username),
        "list_url": reverse("admin:workflows_serviceorder_changelist"),
    }

