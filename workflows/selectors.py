"""Read-side queries of the workflows app (scoped by tenancy.scoping)."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from tenancy.models import User
from tenancy.scoping import visible_to
from workflows import hooks
from workflows.models import Appointment, OrderEvent, ServiceOrder, StageInstance, WorkflowTemplate

S = StageInstance.State


def order_list_visible_to(*, user: User) -> QuerySet[ServiceOrder]:
    return visible_to(ServiceOrder.objects.all(), user).select_related(
        "store", "consumer", "template_version__template", "current_stage__definition"
    )


def order_detail_queryset(*, user: User) -> QuerySet[ServiceOrder]:
    """Everything the order detail shows, in a fixed number of queries whatever its size."""
    qs = order_list_visible_to(user=user).prefetch_related(
        Prefetch("stages", queryset=StageInstance.objects.select_related("definition").order_by("position")),
        Prefetch("appointments", queryset=Appointment.objects.select_related("technician").order_by("window_start")),
        Prefetch("events", queryset=OrderEvent.objects.select_related("actor").order_by("seq")),
        "stages__submission_files",
    )
    for section in hooks.order_sections():
        if section.prefetch:
            qs = qs.prefetch_related(*section.prefetch)
    return qs


def template_list_visible_to(*, user: User) -> QuerySet[WorkflowTemplate]:
    return visible_to(WorkflowTemplate.objects.select_related("merchant"), user)


NEXT_STEP_TEXT = {
    S.WAITING_PAYMENT: ("consumer", "pay", "Pay the installment that is due to continue."),
    S.SCHEDULED: ("technician", "visit", "A technician will come at the booked time."),
    S.IN_PROGRESS: ("store", "work", "The work on this stage is under way."),
    S.AWAITING_APPROVAL: ("consumer", "approve", "Review the work: approve it, or reject it with a reason."),
    S.ESCALATED: ("store", "resolve", "The store is looking into the rejected work."),
}


def order_next_step(order: ServiceOrder) -> dict:
    """What happens next and who must act, in plain words (consumer app and tracking page)."""
    if order.state == "completed":
        return {"actor": None, "action": None, "text": "The service is complete. Thank you!"}
    if order.state == "cancelled":
        return {"actor": None, "action": None, "text": "The order was cancelled."}
    if order.state == "closing":
        return {"actor": "consumer", "action": "pay", "text": "Pay the final installment to complete the order."}
    stage = order.current_stage
    if stage is None:
        return {"actor": None, "action": None, "text": ""}
    if stage.state == S.READY:
        if stage.definition.requires_appointment:
            return {"actor": "consumer", "action": "book", "text": f"Book a time for '{stage.definition.name}'."}
        return {"actor": "store", "action": "work", "text": f"The store is preparing '{stage.definition.name}'."}
    actor, action, text = NEXT_STEP_TEXT.get(stage.state, (None, None, ""))
    return {"actor": actor, "action": action, "text": text}
