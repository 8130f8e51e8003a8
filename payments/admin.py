"""Admin: installments, payments, refunds and ledger entries are records (read-only for everyone);
webhook deliveries are visible to platform operators only."""

from django.contrib import admin

from payments.models import Installment, LedgerEntry, Payment, Refund, WebhookDelivery
from tenancy.admin import TenantScopedAdmin


class RecordAdmin(TenantScopedAdmin):
    read_only_records = True

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


@admin.register(Installment)
class InstallmentAdmin(RecordAdmin):
    list_display = ("id", "order", "position", "timing", "amount", "currency", "state", "due_at", "paid_at")
    list_filter = ("state", "timing")
    search_fields = ("order__number",)
    list_select_related = ("order",)


@admin.register(Payment)
class PaymentAdmin(RecordAdmin):
    list_display = ("id", "order", "installment", "provider", "amount", "currency", "status", "created_at",
                    "captured_at")
    list_filter = ("status", "provider")
    search_fields = ("order__number", "provider_payment_id", "reference")
    list_select_related = ("order",)


@admin.register(Refund)
class RefundAdmin(RecordAdmin):
    list_display = ("id", "payment", "amount", "currency", "status", "reason", "created_at", "last_sent_at",
                    "pending_answers", "next_send_at", "settled_at")
    list_filter = ("status",)
    search_fields = ("provider_refund_id", "payment__order__number")


@admin.register(LedgerEntry)
class LedgerEntryAdmin(RecordAdmin):
    list_display = ("id", "order", "kind", "amount", "currency", "installment", "payment", "created_at")
    list_filter = ("kind", "currency")
    search_fields = ("order__number",)
    list_select_related = ("order",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(RecordAdmin):
    view_action = "admin.platform"  # deliveries span tenants and keep raw bodies
    list_display = ("id", "provider", "provider_event_id", "event_type", "status", "signature_valid", "processed",
                    "result", "received_at")
    list_filter = ("provider", "status", "signature_valid", "processed")
    search_fields = ("provider_event_id",)
