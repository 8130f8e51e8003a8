"""Write operations of the workflows app, by concern. Every entry point (API, admin, tasks, demo) calls these.

- templates: drafts, validation, publishing, distribution
- store_bounds: what a brand lets its stores change, and each store's values within those bounds
- consumers: the consumer account that contact details identify
- orders: create, stage steps through the engine, off-site work submitted by store staff, cancel
- appointments: bookable windows, booking, moving, assigning, no-shows
- sla_hold: the SLA clock held while the consumer answers something outside the engine (a price revision)
"""

from workflows.services.appointments import (
    Slot,
    appointment_assign,
    appointment_book,
    appointment_mark_no_show,
    appointment_minutes_for,
    appointment_reschedule,
    appointment_slots,
    booking_horizon_end,
    technicians_busy,
)
from workflows.services.consumers import consumer_find_or_create
from workflows.services.orders import (
    SUBMISSION_CONTENT_TYPES,
    SUBMISSION_STORED_TYPES,
    order_cancel,
    order_create,
    order_create_for_contact,
    stage_approve,
    stage_complete,
    stage_fire,
    stage_reject,
    stage_resume,
    stage_start,
    stage_submit,
    submission_file_check,
)
from workflows.services.sla_hold import pause_sla_clock, resume_sla_clock
from workflows.services.store_bounds import (
    store_bounds_of,
    store_bounds_set,
    store_overrides_of,
    store_overrides_problems,
    store_overrides_set,
)
from workflows.services.templates import (
    MAX_SLA_HOURS,
    MAX_VOUCHER_VALID_DAYS,
    STAGE_FIELDS,
    TemplateInvalid,
    template_create,
    template_distribute,
    template_draft,
    template_latest_published,
    template_problems,
    template_publish,
    template_split,
    template_stage_move,
    template_update,
)

__all__ = [
    "MAX_SLA_HOURS", "MAX_VOUCHER_VALID_DAYS", "STAGE_FIELDS", "SUBMISSION_CONTENT_TYPES", "SUBMISSION_STORED_TYPES",
    "Slot", "TemplateInvalid", "appointment_assign", "appointment_book", "appointment_mark_no_show",
    "appointment_minutes_for", "appointment_reschedule", "appointment_slots", "booking_horizon_end",
    "consumer_find_or_create", "order_cancel", "order_create", "order_create_for_contact", "pause_sla_clock",
    "resume_sla_clock", "stage_approve", "stage_complete", "stage_fire", "stage_reject",
    "stage_resume", "stage_start", "stage_submit", "store_bounds_of", "store_bounds_set",
    "store_overrides_of", "store_overrides_problems", "store_overrides_set", "submission_file_check", "template_create",
    "template_distribute", "template_draft", "template_latest_published", "template_problems", "template_publish",
    "template_split", "template_stage_move", "template_update", "technicians_busy",
]
