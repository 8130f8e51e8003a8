"""The order events the field work records: each kind declared once, with a small constructor."""

from __future__ import annotations

from workflows.events import declare, record_event
from workflows.models import Appointment, OrderEvent, ServiceOrder

_TIMES = ("recorded_at", "received_at", "late_sync")  # device time, server time, arrived long after
_CHECKIN = ("appointment", "checkin", "distance_m", "outside_radius", "on_time", "minutes_late", "early",
            "minutes_early", "accuracy_m", "low_accuracy", *_TIMES)
JOB_STALE_ACTION = declare(
    "job.stale_action", "A technician acted on a job no longer theirs (reassigned, cancelled, no-show): refused.",
    ("appointment", "action", "reason", "client_event_id", "recorded_at", "received_at"))
JOB_CHECKED_IN = declare("job.checked_in", "The technician checked in on site (time and place).", _CHECKIN)
JOB_LATE_ARRIVAL = declare("job.late_arrival", "The technician checked in after the window's tolerance.",
                           (*_CHECKIN, "window_start", "tolerance_minutes"))
JOB_CHECKIN_OUTSIDE_RADIUS = declare("job.checkin_outside_radius",
                                     "The check-in was farther from the address than the allowed radius.",
                                     (*_CHECKIN, "radius_m"))
JOB_CHECKIN_FLAGGED = declare(
    "job.checkin_flagged",
    "The check-in cannot show the technician was there (outside the radius, or accuracy worse than it): the "
    "store is told at once.", (*_CHECKIN, "radius_m", "reasons"))
JOB_CHECKED_OUT = declare("job.checked_out", "The technician checked out (time, place, notes, checklist).",
                          ("appointment", "checkout", "distance_m", "outside_radius", "checklist", "notes", *_TIMES))
JOB_CHECKLIST_UPDATED = declare("job.checklist_updated", "The technician ticked checklist items.",
                                ("appointment", "checklist", *_TIMES))
JOB_EVIDENCE_ADDED = declare("job.evidence_added", "The technician uploaded evidence (a photo, a measurement).",
                             ("appointment", "evidence", "kind", "sha256", "size", "content_type", *_TIMES))
JOB_EVIDENCE_REFUSED = declare(
    "job.evidence_refused", "A photo already on the order was uploaded again: refused (an anomaly in the metrics).",
    ("appointment", "duplicate_of", "kind", "sha256"))


def job_event(kind, /, *, order: ServiceOrder, appointment: Appointment, actor=None, hold: bool = False,
              **payload) -> OrderEvent:
    """One of the job.* kinds about `appointment` (on its stage: the loaded one, so listeners read it freely).
    `hold`: written with the order's next event (workflows.events.written_together)."""
    stage = appointment.stage if _STAGE.is_cached(appointment) else None
    return record_event(order=order, kind=kind, actor=actor, stage=stage, stage_id=appointment.stage_id,
                        payload={"appointment": appointment.pk, **payload}, hold=hold)


_STAGE = Appointment._meta.get_field("stage")
