"""Orders, visits and the event log in the admin, scoped to the user's tenant. Every change goes through the
services."""


from functools import partial

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.urls import path
from django.utils.translation import gettext as _

from tenancy.admin import PhoneSearchMixin, TenantScopedAdmin
from tenancy.models import Store, User
from tenancy.scoping import visible_to
from workflows import selectors
from workflows.admin import actions, order_page
from workflows.admin.common import staff_may
from workflows.models import (
    Appointment,
    OrderEvent,
    ServiceOrder,
)

Role = User.Role



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

    # The workflow diagram's counts link to a version's live orders in one stage.
    DIAGRAM_LOOKUPS = ("template_version__id__exact", "current_stage__definition__id__exact")

    def lookup_allowed(self, lookup, value, request=None):
        return lookup in self.DIAGRAM_LOOKUPS or super().lookup_allowed(lookup, value, request)

    def has_add_permission(self, request):
        return False  # orders are created by the "new order" action (create_view), with a consumer and a price

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        def view(fn, name, route):
            return path(route, self.admin_site.admin_view(partial(fn, self)), name=f"workflows_order_{name}")

        return [
            path("day/", self.admin_site.admin_view(self.day_view), name="workflows_order_day"),
            view(actions.create_view, "create", "new/"),
            view(actions.cancel_view, "cancel", "<int:pk>/cancel/"),
            view(actions.start_view, "start", "<int:pk>/stages/<int:stage_pk>/start/"),
            view(actions.submit_view, "submit", "<int:pk>/stages/<int:stage_pk>/submit/"),
            view(actions.resume_view, "resume", "<int:pk>/stages/<int:stage_pk>/resume/"),
            view(actions.book_view, "book", "<int:pk>/stages/<int:stage_pk>/book/"),
            view(actions.assign_view, "assign", "<int:pk>/visits/<int:visit_pk>/assign/"),
            view(actions.move_view, "move", "<int:pk>/visits/<int:visit_pk>/move/"),
        ] + super().get_urls()

    def day_view(self, request):
        """The store's day: today's and tomorrow's visits by technician and the orders waiting on the store."""
        if not self.has_view_permission(request) or not staff_may(request, "admin.manage_orders"):
            raise PermissionDenied
        stores = list(visible_to(Store.objects.all(), request.user).order_by("name"))
        wanted = request.GET.get("store", "")
        store = next((s for s in stores if str(s.pk) == wanted), stores[0] if stores else None)
        if wanted and (store is None or str(store.pk) != wanted):
            raise Http404  # a store outside the viewer's scope
        context = selectors.store_day(user=request.user, store=store) if store is not None else {}
        return render(request, "admin/workflows/day.html", {
            **self.admin_site.each_context(request), **context, "opts": self.model._meta, "store": store,
            "stores": stores, "title": _("The store's day"), "is_nav_sidebar_enabled": False,
            "can_create_order": staff_may(request, "order.create"),
        })

    def changelist_view(self, request, extra_context=None):
        extra = {"can_create_order": staff_may(request, "order.create"), **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The order's page: the whole order in words with its actions (workflows.admin.order_page)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            detail = order_page.order_page_load(user=request.user, order_id=int(object_id))
        except (TypeError, ValueError):
            detail = None
        if detail is None:
            raise Http404
        context = order_page.order_page_context(request, detail, may=lambda action: staff_may(request, action))
        return render(request, "admin/workflows/order_page.html", {
            **self.admin_site.each_context(request), **context, "opts": self.model._meta,
            "title": _("Order %(number)s") % {"number": detail.order.number},
            "is_nav_sidebar_enabled": False,  # the whole width for the order on a tablet
        })


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


# The admin's home page starts with the store's day (store staff open the admin to run their day).
admin.site.index_template = "admin/workflows/index.html"
