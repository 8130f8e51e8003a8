"""The end of a visit: the technician submits the stage's work."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.utils import timezone

from fieldwork.services.actions import COMPLETED, ActionResult, _event_times, _run_action, is_late_sync
from tenancy.models import User
from workflows import services as workflow_services
from workflows.models import Appointment, ServiceOrder

A = Appointment.State


def job_complete(*, technician: User, job_id: int, client_event_id=None,
                 recorded_at: datetime | None = None, job_first: bool = False) -> ActionResult:
    """Submit the stage's work. The engine's guards decide (visit, evidence, checklist, voucher);
    the stage then waits for the consumer's approval where it needs it, or is done."""
    client_event_id = client_event_id or uuid.uuid4()
    recorded_at = recorded_at or timezone.now()

    def work(order: ServiceOrder, appointment: Appointment, received_at: datetime) -> ActionResult:
        late_sync = is_late_sync(recorded_at, received_at)
        stage = appointment.stage
        result = workflow_services.stage_complete(stage=stage, actor=technician, payload={
            "appointment": appointment.pk, "client_event_id": str(client_event_id),
            **_event_times(recorded_at, received_at, late_sync),
        })
        stage.refresh_from_db(fields=["state", "completed_at", "submitted_at"])
        return ActionResult(COMPLETED, {
            "job": appointment.pk, "client_event_id": str(client_event_id),
            "stage": {"id": stage.pk, "code": stage.definition.code, "state": stage.state},
            "order_state": result.order.state, "late_sync": late_sync,
        })

    return _run_action(technician=technician, job_id=job_id, client_event_id=client_event_id, kind="complete",
                       recorded_at=recorded_at, request={"recorded_at": recorded_at}, work=work, job_first=job_first)
