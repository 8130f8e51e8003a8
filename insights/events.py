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


def breach_recorded(*, order: ServiceOrder, breach: SlaBreach, details: dict) -> OrderEvent:
    return record_event(order=order, kind=BREACH_KINDS[breach.kind], stage_id=breach.stage_id, payload={
        "breach_id": breach.pk, "kind": breach.kind, "due_at": breach.due_at.isoformat(), "store_id": order.store_id,
        "appointment_id": breach.appointment_id, "installment_id": breach.installment_id, **details,
    })
