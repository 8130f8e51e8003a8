"""The order detail's body, built from the plain rows order_detail_load read (no query, no DRF field per stage,
visit and event): field for field what OrderDetailSerializer's fields would give (dates in the current time zone,
decimals as fixed-point strings). The hot path of the consumer app; cached by workflows.detail_cache."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from core import display
from core.money import quantize
from workflows import hooks
from workflows.machine import allowed_triggers
from workflows.models import StageInstance
from workflows.selectors import order_next_step

_DATETIME = serializers.DateTimeField()
_COORD = serializers.DecimalField(max_digits=9, decimal_places=6)
_SHARE = serializers.DecimalField(max_digits=5, decimal_places=2)


def submission_file_data(*, stage_id: int, id: int, name: str, content_type: str, size: int) -> dict:
    """One file of a stage's submission as the API shows it (the stage response and the order detail)."""
    return {"id": id, "name": name, "content_type": content_type, "size": size,
            "download_url": reverse("stage-file", kwargs={"id": stage_id, "file_id": id})}


def _dt(value):
    return _DATETIME.to_representation(value) if value is not None else None


def _name(first: str, last: str, username: str) -> str:
    """User.display_name from the joined columns: the full name, else the username."""
    return f"{first} {last}".strip() or username


def _stage(row: dict, files: dict, currency: str) -> dict:
    share, amount = row["definition__payment_share"], row["definition__payment_amount"]
    return {
        "id": row["id"],
        "position": row["position"],
        "code": row["definition__code"],
        "name": row["definition__name"],
        "state": row["state"],
        "requires_appointment": bool(row["definition__requires_appointment"]),
        "requires_approval": bool(row["definition__requires_approval"]),
        "requires_voucher": bool(row["definition__requires_voucher"]),
        "payment_share": _SHARE.to_representation(share) if share is not None else None,
        "payment_amount": str(quantize(amount, currency)) if amount is not None else None,
        "payment_timing": row["definition__payment_timing"],
        "rework_rounds": row["rework_rounds"],
        "entered_at": _dt(row["entered_at"]),
        "started_at": _dt(row["started_at"]),
        "submitted_at": _dt(row["submitted_at"]),
        "completed_at": _dt(row["completed_at"]),
        "sla_due_at": _dt(row["sla_due_at"]),
        "sla_paused_at": _dt(row["sla_paused_at"]),
        "waiting_seconds": row["waiting_seconds"],
        "submission_notes": row["submission_notes"],
        "submission_files": [submission_file_data(stage_id=row["id"], **f) for f in files.get(row["id"], ())],
    }


def _appointment(row: dict) -> dict:
    return {
        "id": row["id"],
        "order": row["order_id"],
        "stage": row["stage_id"],
        "store": row["store_id"],
        "technician": row["technician_id"],
        "technician_name": (
            _name(row["technician__first_name"], row["technician__last_name"], row["technician__username"])
            if row["technician_id"]
            else None
        ),
        "window_start": _dt(row["window_start"]),
        "window_end": _dt(row["window_end"]),
        "state": row["state"],
        "reschedule_count": row["reschedule_count"],
        "checked_in_at": _dt(row["checked_in_at"]),
        "checked_out_at": _dt(row["checked_out_at"]),
    }


def _event(row: dict) -> dict:
    return {
        "seq": row["seq"],
        "kind": row["kind"],
        "stage": row["stage_id"],
        "trigger": row["trigger"],
        "from_state": row["from_state"],
        "to_state": row["to_state"],
        "actor": (
            _name(row["actor__first_name"], row["actor__last_name"], row["actor__username"])
            if row["actor_id"]
            else None
        ),
        "actor_role": row["actor_role"],
        "created_at": _dt(row["created_at"]),
        "payload": row["payload"],
    }


def order_detail_data(detail: hooks.OrderDetailRows, request) -> dict:
    """The order detail body from what order_detail_load read (no query)."""
    order = detail.order
    stages = detail.stages
    current = next((s for s in stages if s["id"] == order.current_stage_id), None)
    done = sum(1 for s in stages if s["state"] == StageInstance.State.DONE)
    consumer = order.consumer
    version = order.template_version
    data = {
        "id": order.pk,
        "number": order.number,
        "external_ref": order.external_ref,
        "store": order.store_id,
        "consumer": order.consumer_id,
        "template": version.template.name,
        "template_version": version.number,
        "total_amount": str(quantize(order.total_amount, order.currency)),
        "total_amount_display": display.money(order.total_amount, order.currency),
        "currency": order.currency,
        "state": order.state,
        "status": order.status,
        "current_stage": current["definition__code"] if current is not None else None,
        "created_at": _dt(order.created_at),
        "consumer_name": _name(consumer.first_name, consumer.last_name, consumer.username),
        "store_name": order.store.name,
        "service_address": order.service_address,
        "latitude": _COORD.to_representation(order.latitude),
        "longitude": _COORD.to_representation(order.longitude),
        "progress": {
            "done": done, "total": len(stages), "percent": round(100 * done / len(stages)) if stages else 0,
        },
        "next_step": order_next_step(order, current, detail.appointments),
        # What this viewer may do: the detail is cached per viewer, so the list can be theirs.
        "allowed_triggers": allowed_triggers(order, actor=getattr(request, "user", None)),
        "stages": [_stage(s, detail.files, order.currency) for s in stages],
        "appointments": [_appointment(a) for a in detail.appointments],
        "timeline": [_event(e) for e in detail.events],
        "completed_at": _dt(order.completed_at),
        "cancelled_at": _dt(order.cancelled_at),
        "cancel_reason": order.cancel_reason,
    }
    # Sections owned by other apps (installments, money, vouchers, visits, tracking_url) sit beside
    # the workflow's own fields; each reads only what its load returned.
    for section in hooks.order_sections():
        data[section.name] = section.serialize(detail, request)
    return data

