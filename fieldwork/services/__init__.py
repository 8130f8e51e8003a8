"""Write operations of the fieldwork app: every technician action, whichever way it arrives
(the job endpoints, the offline sync batch), goes through these functions.

Each action:
1. answers the stored first result when its `client_event_id` was seen before (a replay);
2. finds the job among the technician's appointments (404 otherwise), or, when the job was
   theirs and has since been reassigned, cancelled or marked a no-show, answers `stale` (409
   stale_job) and keeps the attempt (an order event "job.stale_action" and the stored client event);
3. in one transaction: locks the order (always before the appointment), re-checks the replay
   store under the lock, validates, writes its record, the order events and the stored result.

An action returns an `ActionResult` (recorded / completed / stale, with its data), which the API turns
into a response and the sync batch into one result per item; input errors and refusals are raised as
core.errors exceptions.

By concern: actions (the shared frame), visits (check-in, check-out, checklist), evidence, completion
(the stage's work). A visit nobody came to is marked by workflows.services.appointment_mark_no_show.
"""

from fieldwork.services.actions import (
    ActionResult,
    device_time_validate,
    is_late_sync,
    job_for_technician,
)
from fieldwork.services.changes import job_list_read
from fieldwork.services.completion import job_complete
from fieldwork.services.evidence import EVIDENCE_CONTENT_TYPES, evidence_content_type, job_evidence_add
from fieldwork.services.visits import checklist_normalize, job_check_in, job_check_out, job_checklist_submit

__all__ = [
    "EVIDENCE_CONTENT_TYPES", "ActionResult", "checklist_normalize",
    "device_time_validate", "evidence_content_type", "is_late_sync", "job_check_in", "job_check_out",
    "job_checklist_submit", "job_complete", "job_evidence_add", "job_for_technician", "job_list_read",
]
