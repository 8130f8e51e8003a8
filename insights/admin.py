"""Admin of the insights app: the dashboard, SLA breaches, outbound webhooks and their delivery log."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core import dates
from core.errors import NotFound
from core.replica import replica_reads
from insights import charts
from insights.models import Dashboard, EscalationSetting, OutboundDelivery, SlaBreach, WebhookEndpoint
from insights.selectors import metrics_for_scope, metrics_scope, orders_at_risk
from insights.webhooks import delivery_retry_now
from tenancy.admin import TenantScopedAdmin
from tenancy.models import Merchant, Store, User
from tenancy.scoping import visible_to
from tenancy.tiers import TierLimit, tier_allows, tier_require
from workflows.models import OrderEvent

Role = User.Role


class EscalationLevelFilter(admin.SimpleListFilter):
    title = _("escalation level")
    parameter_name = "level"

    def lookups(self, request, model_admin):
        return [(str(value), label) for value, label in SlaBreach.Level.choices]

    def queryset(self, request, queryset):
        return {
            "0": queryset.filter(brand_escalated_at__isnull=True),
            "1": queryset.filter(brand_escalated_at__isnull=False, platform_escalated_at__isnull=True),
            "2": queryset.filter(platform_escalated_at__isnull=False),
        }.get(self.value(), queryset)


@admin.register(SlaBreach)
class SlaBreachAdmin(TenantScopedAdmin):
    list_display = ("detected_at", "kind", "order", "store", "stage", "due_at", "level", "resolved_at")
    list_filter = ("kind", EscalationLevelFilter, "store")
    search_fields = ("order__number",)
    date_hierarchy = "detected_at"
    readonly_fields = ("kind", "order", "merchant", "store", "stage", "appointment", "installment_id", "due_at",
                       "detected_at", "event", "details", "level", "brand_escalated_at", "platform_escalated_at",
                       "resolved_at")
    fields = readonly_fields
    read_only_records = True
    list_select_related = ("order", "store", "stage__definition")

    @admin.display(description=_("escalation level"))
    def level(self, obj):
        return SlaBreach.Level(obj.escalation_level).label


@admin.register(EscalationSetting)
class EscalationSettingAdmin(TenantScopedAdmin):
    """A brand's delay before an unresolved breach goes to its admins: merchant admins set their own (one row per
    brand; without one, the platform's INSIGHTS_ESCALATE_BRAND_AFTER_HOURS applies); operators any brand's."""

    list_display = ("merchant", "brand_after_hours", "updated_at")
    view_action = "admin.dashboard"


@admin.register(Dashboard)
class DashboardAdmin(TenantScopedAdmin):
    """/admin/insights/dashboard/: the figures as charts, plus the orders about to breach. Store managers see
    their stores' (tenancy.scoping), merchant admins their merchant's, operators everyone's."""

    view_action = "admin.store_dashboard"
    read_only_records = True

    def get_queryset(self, request):
        return super().get_queryset(request).none()

    @replica_reads()
    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise Http404
        user = request.user
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": _("Platform dashboard")}
        if not user.is_operator:
            try:
                tier_require(user.merchant, "metrics")
            except TierLimit as exc:
                return TemplateResponse(request, "admin/insights/tier_limit.html",
                                        {**context, "message": exc.detail}, status=403)
        filters = _dashboard_filters(request)
        try:
            scope = metrics_scope(user=user, merchant=filters["merchant"], store=filters["store"],
                                  date_from=filters["start"], date_to=filters["end"])
        except NotFound:
            raise Http404 from None
        data = metrics_for_scope(scope)
        context.update({
            "metrics": data, "filters": filters,
            "merchants": visible_to(Merchant.objects.all(), user) if user.is_operator else [],
            "stores": visible_to(Store.objects.select_related("merchant"), user).order_by("merchant__name", "name"),
            "at_risk_hours": filters["hours"], "now": timezone.now(),
            "on_time_chart": charts.on_time_columns(data["arrivals_by_day"]),
            "duration_chart": charts.stage_duration_bars(data["stage_durations"]),
            "breach_chart": charts.breach_bars(data["sla_breaches"]["per_store"]),
            "money_chart": charts.money_bars(data["payments"]),
            "rating_chart": charts.rating_columns((data.get("ratings") or {}).get("by_day", [])),
            "duration_rows": [
                {**s, "p50": charts.fmt_hours(s["p50_seconds"]), "p90": charts.fmt_hours(s["p90_seconds"]),
                 "avg": charts.fmt_hours(s["avg_seconds"])} for s in data["stage_durations"]
            ],
        })
        context["at_risk"] = orders_at_risk(scope, hours=filters["hours"])
        return TemplateResponse(request, "admin/insights/dashboard.html", context)


def _int(value):
    try:
        return int(value) if value else None
    except (TypeError, ValueError):
        return None


def _date(value):
    try:
        day = parse_date(str(value or "")[:10])
    except ValueError:
        return None
    return day if day is not None and dates.in_range(day) else None


def _dashboard_filters(request) -> dict:
    today = timezone.localdate()
    start_day = _date(request.GET.get("from")) or today - timedelta(days=29)
    end_day = _date(request.GET.get("to")) or today
    if end_day < start_day:
        start_day, end_day = end_day, start_day
    hours = _int(request.GET.get("hours")) or 24
    return {
        "merchant": _int(request.GET.get("merchant")), "store": _int(request.GET.get("store")),
        "from": start_day, "to": end_day, "hours": max(1, min(hours, 24 * 14)),
        "start": timezone.make_aware(datetime.combine(start_day, time.min)),
        "end": timezone.make_aware(datetime.combine(end_day + timedelta(days=1), time.min)),
    }


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https",
                         help_text=_("http(s) URL that receives a signed POST per event."))

    class Meta:
        model = WebhookEndpoint
        fields = ("merchant", "url", "active", "event_kinds", "description")

    def clean_event_kinds(self):
        kinds = self.cleaned_data.get("event_kinds") or []
        if not isinstance(kinds, list) or not all(isinstance(k, str) and 0 < len(k) <= 60 for k in kinds):
            raise ValidationError(_('A list of event kinds, e.g. ["stage.approve", "payment.*"].'))
        return kinds

    def clean(self):
        cleaned = super().clean()
        merchant = cleaned.get("merchant") or (self.instance.merchant if self.instance.merchant_id else None)
        if merchant is not None and not tier_allows(merchant, "outbound_webhooks"):
            try:
                tier_require(merchant, "outbound_webhooks")
            except TierLimit as exc:
                raise ValidationError(exc.detail) from None
        return cleaned


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(TenantScopedAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "merchant", "active", "event_kinds", "created_at")
    list_filter = ("active",)
    readonly_fields = ("secret", "created_at")
    view_action = "admin.dashboard"

    def changelist_view(self, request, extra_context=None):
        user = request.user
        if not user.is_operator and user.merchant_id and not tier_allows(user.merchant, "outbound_webhooks"):
            try:
                tier_require(user.merchant, "outbound_webhooks")
            except TierLimit as exc:
                self.message_user(request, exc.detail, messages.WARNING)
        return super().changelist_view(request, extra_context)


@admin.register(OutboundDelivery)
class OutboundDeliveryAdmin(TenantScopedAdmin):
    """The delivery log: read-only; failed or pending deliveries can be sent again now."""

    list_display = ("created_at", "endpoint", "event_kind", "state", "attempts", "last_status", "next_attempt_at",
                    "delivered_at")
    list_filter = ("state",)
    readonly_fields = ("endpoint", "event", "state", "attempts", "last_status", "last_error", "response_snippet",
                       "next_attempt_at", "created_at", "delivered_at")
    fields = readonly_fields
    read_only_records = True
    view_action = "admin.dashboard"
    list_select_related = ("endpoint", "event")
    actions = ["retry_now"]

    @admin.display(description=_("event"))
    def event_kind(self, obj):
        return f"{obj.event.kind} (order {obj.event.order_id} #{obj.event.seq})"

    @admin.action(description=_("Send again now"))
    def retry_now(self, request, queryset):
        n = sum(1 for d in queryset if delivery_retry_now(delivery=d))
        self.message_user(request, ngettext("%(count)s delivery queued again.", "%(count)s deliveries queued again.", n)
                          % {"count": n}, messages.SUCCESS)


if not admin.site.is_registered(OrderEvent):  # workflows.admin registers it read-only; never twice

    @admin.register(OrderEvent)
    class OrderEventAdmin(TenantScopedAdmin):
        list_display = ("order", "seq", "kind", "actor_role", "created_at")
        list_filter = ("kind",)
        readonly_fields = ("order", "seq", "stage", "kind", "trigger", "from_state", "to_state", "actor",
                           "actor_role", "created_at", "payload", "prev_hash", "hash")
        fields = readonly_fields
        read_only_records = True
