"""Orders, visits and the event log in the admin, scoped to the user's tenant. Every change goes through the
services."""


from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _

from core.errors import DomainError
from tenancy.admin import PhoneSearchMixin, TenantScopedAdmin, TenantScopedInline
from tenancy.models import User
from workflows import services
from workflows.models import (
    Appointment,
    OrderEvent,
    ServiceOrder,
    StageInstance,
)

Role = User.Role



class StageInstanceInline(TenantScopedInline, admin.TabularInline):
    model = StageInstance
    extra = 0
    fields = ("position", "definition", "state", "rework_rounds", "started_at", "completed_at", "sla_due_at")
    readonly_fields = fields
    can_delete = False
    edit_action = "admin.platform"


class EventInline(TenantScopedInline, admin.TabularInline):
    model = OrderEvent
    extra = 0
    fields = ("seq", "created_at", "kind", "from_state", "to_state", "actor", "actor_role", "payload")
    readonly_fields = fields
    can_delete = False
    edit_action = "admin.platform"


class CancelForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea, max_length=2000)


@admin.register(ServiceOrder)
class ServiceOrderAdmin(PhoneSearchMixin, TenantScopedAdmin):
    list_display = (
        "number",
        "store",
        "consumer",
        "template_version",
        "total_amount",
        "currency",
        "state",
        "status",
        "created_at",
    )
    list_filter = ("status", "store")
    search_fields = ("number", "consumer__username", "consumer__phone")
    phone_search_field = "consumer__phone"  # the consumer's phone in any spelling finds their orders
    inlines = [StageInstanceInline, EventInline]
    readonly_fields = (
        "number",
        "merchant",
        "store",
        "consumer",
        "template_version",
        "total_amount",
        "currency",
        "service_address",
        "latitude",
        "longitude",
        "state",
        "status",
        "current_stage",
        "created_at",
        "completed_at",
        "cancelled_at",
        "cancel_reason",
    )
    fields = readonly_fields
    edit_action = "admin.manage_orders"
    list_select_related = ("store", "consumer", "template_version__template")

    def has_add_permission(self, request):
        return False  # orders are created through the API (or the demo), with a consumer and a price

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path("<int:pk>/cancel/", self.admin_site.admin_view(self.cancel_view), name="workflows_order_cancel")
        ] + super().get_urls()

    def cancel_view(self, request, pk):
        order = self.get_queryset(request).filter(pk=pk).first()
        if order is None or not self.has_change_permission(request, order):
            return HttpResponse(status=404)
        form = CancelForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.order_cancel(order=order, actor=request.user, reason=form.cleaned_data["reason"])
            except DomainError as exc:
                self.message_user(request, exc.detail, messages.ERROR)
            else:
                told = _("Order %(number)s cancelled.") % {"number": order.number}
                self.message_user(request, told, messages.SUCCESS)
            return redirect(reverse("admin:workflows_serviceorder_change", args=[pk]))
        return render(
            request,
            "admin/workflows/cancel.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Cancel order {order.number}",
                "form": form,
                "order": order,
                "opts": self.model._meta,
            },
        )


@admin.register(Appointment)
class AppointmentAdmin(TenantScopedAdmin):
    list_display = ("order", "stage", "store", "technician", "window_start", "window_end", "state")
    list_filter = ("state", "store")
    readonly_fields = (
        "order",
        "stage",
        "store",
        "technician",
        "window_start",
        "window_end",
        "state",
        "reschedule_count",
        "booked_by",
        "checked_in_at",
        "checked_out_at",
    )
    fields = readonly_fields
    read_only_records = True
    list_select_related = ("order", "stage__definition", "store", "technician")


@admin.register(OrderEvent)
class OrderEventAdmin(TenantScopedAdmin):
    list_display = ("order", "seq", "kind", "from_state", "to_state", "actor", "actor_role", "created_at")
    list_filter = ("kind",)
    search_fields = ("order__number", "kind")
    readonly_fields = (
        "order",
        "seq",
        "stage",
        "kind",
        "trigger",
        "from_state",
        "to_state",
        "actor",
        "actor_role",
        "created_at",
        "payload",
        "prev_hash",
        "hash",
    )
    fields = readonly_fields
    read_only_records = True
    list_select_related = ("order", "actor")
