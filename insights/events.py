"""The order events the insights app records: one per SLA breach kind, declared once."""

from __future__ import annotations

from insights.models import SlaBreach
from workflows.events import declare, record_event
from workflows.models import OrderEvent, ServiceOrder

_BREACH = ("breach_id", "kind", "due_at", "store_id", "appointment_id", "installment_id")
BREACH_KINDS = {
    SlaBreach.Kind.STAGE_OVERDUE: declare("sla.stage_overdue", "A stage ran past its SLA.",
                                          (*_BREACH, "stage_state")),
    SlaBreach.Kind.NO_SHOW: declare("sla.no_show", "Nobody checked in to a booked visit in time.",
                                    (*_BREACH, "technician_id", "window_end")),
    SlaBreach.Kind.APPROVAL_OVERDUE: declare("sla.approval_overdue", "The consumer's approval is waiting too long.",
                                             (*_BREACH, "waiting_hours")),
    SlaBreach.Kind.INSTALLMENT_OVERDUE: declare("sla.installment_overdue", "An installment is unpaid too long.",
                                                (*_BREACH, "amount")),
}


_ESCALATED = ("breach_id", "kind", "level", "detected_at", "store_id", "hours")
ESCALATED = {
    "brand": declare("breach.escalated_to_brand", "An SLA breach was still unresolved after the brand's delay "
                     "(hours since the store was told): the brand's admins are told.", _ESCALATED),
    "platform": declare("breach.escalated_to_platform", "An SLA breach was still unresolved after the platform's "
                        "further delay (hours since the brand was told): the platform's operators are told.",
                        _ESCALATED),
}


def breach_recorded(*, order: ServiceOrder, breach: SlaBreach, details: dict) -> OrderEvent:
    return record_event(order=order, kind=BREACH_KINDS[breach.kind], stage_id=breach.stage_id, payload={
        "breach_id": breach.pk, "kind": breach.kind, "due_at": breach.due_at.isoformat(), "store_id": order.store_id,
        "appointment_id": breach.appointment_id, "installment_id": breach.installment_id, **details,
    })


def breach_escalated(*, order: ServiceOrder, breach: SlaBreach, level: str, hours: int) -> OrderEvent:
    return record_event(order=order, kind=ESCALATED[level], stage_id=breach.stage_id, payload={
        "breach_id": breach.pk, "kind": breach.kind, "level": level, "detected_at": breach.detected_at.isoformat(),
        "store_id": order.store_id, "hours": hours,
    })
