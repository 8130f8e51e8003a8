"""Field records in the admin: read-only (they are what the technician's phone reported)."""

from django.contrib import admin

from fieldwork.models import CheckIn, ChecklistSubmission, CheckOut, ClientEvent, Evidence
from tenancy.admin import TenantScopedAdmin


class _RecordAdmin(TenantScopedAdmin):
    read_only_records = True
    list_select_related = ("appointment", "technician")
    date_hierarchy = "recorded_at"


@admin.register(CheckIn)
class CheckInAdmin(_RecordAdmin):
    list_display = ("appointment", "technician", "recorded_at", "received_at", "distance_m", "outside_radius",
                    "on_time", "minutes_late", "minutes_early", "late_sync")
    list_filter = ("on_time", "outside_radius", "late_sync")
    search_fields = ("client_event_id", "appointment__order__number", "technician__username")


@admin.register(CheckOut)
class CheckOutAdmin(_RecordAdmin):
    list_display = ("appointment", "technician", "recorded_at", "received_at", "distance_m", "outside_radius",
                    "late_sync")
    list_filter = ("outside_radius", "late_sync")
    search_fields = ("client_event_id", "appointment__order__number", "technician__username")


@admin.register(ChecklistSubmission)
class ChecklistSubmissionAdmin(_RecordAdmin):
    list_display = ("appointment", "technician", "recorded_at", "received_at", "late_sync")
    search_fields = ("client_event_id", "appointment__order__number")


@admin.register(Evidence)
class EvidenceAdmin(_RecordAdmin):
    list_display = ("appointment", "kind", "technician", "content_type", "size", "sha256", "recorded_at",
                    "late_sync")
    list_filter = ("kind", "content_type", "late_sync")
    search_fields = ("client_event_id", "sha256", "appointment__order__number")


@admin.register(ClientEvent)
class ClientEventAdmin(TenantScopedAdmin):
    read_only_records = True
    list_display = ("client_event_id", "kind", "technician", "appointment", "outcome", "recorded_at",
                    "created_at")
    list_filter = ("kind", "outcome")
    list_select_related = ("technician", "appointment")
    search_fields = ("client_event_id",)
    date_hierarchy = "created_at"
