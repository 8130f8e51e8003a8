"""Platform insights: SLA breaches, and outbound webhooks to merchants' own systems.

The figures themselves (metrics, dashboard) are computed from the workflow's own rows and the
event log (insights.selectors); the only rows this app owns are the breaches the SLA monitor found
and the outbound webhook endpoints with their delivery log.
"""

import secrets

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tenancy.models import Merchant, Store
from tenancy.scoping import TenantScope
from workflows.models import Appointment, OrderEvent, ServiceOrder, StageInstance


class SlaBreach(models.Model):
    """One service-level breach, recorded once (the partial unique constraints make the scan idempotent)."""

    class Kind(models.TextChoices):
        STAGE_OVERDUE = "stage_overdue", _("Stage past its SLA")
        NO_SHOW = "no_show", _("No check-in by the end of the window")
        APPROVAL_OVERDUE = "approval_overdue", _("Approval waiting too long")
        INSTALLMENT_OVERDUE = "installment_overdue", _("Installment unpaid too long")

    kind = models.CharField(max_length=30, choices=Kind.choices)
    order = models.ForeignKey(ServiceOrder, on_delete=models.CASCADE, related_name="sla_breaches")
    # Denormalised from the order so per-store figures group without a join.
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    stage = models.ForeignKey(StageInstance, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    appointment = models.ForeignKey(Appointment, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    # The payments app's installment, by id (insights does not depend on payments; the breach goes with its order).
    installment_id = models.PositiveBigIntegerField(null=True, blank=True)
    due_at = models.DateTimeField(help_text=_("When it should have happened at the latest."))
    detected_at = models.DateTimeField(db_index=True)
    event = models.ForeignKey(OrderEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    details = models.JSONField(default=dict, blank=True)
    # Escalation (insights.escalation): the store's managers are told at the breach; still unresolved after the
    # brand's delay, its admins (brand_escalated_at); after the platform's further delay, its operators. Each set
    # once, by a conditional update under the order's lock; resolved_at when the escalation scan found it over.
    brand_escalated_at = models.DateTimeField(_("told the brand"), null=True, blank=True)
    platform_escalated_at = models.DateTimeField(_("told the platform"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("found resolved"), null=True, blank=True)

    tenant_scope = TenantScope(merchant="merchant", store="store")

    class Meta:
        ordering = ["-detected_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "stage"], name="one_stage_breach_per_kind",
                condition=Q(appointment__isnull=True, installment_id__isnull=True),
            ),
            models.UniqueConstraint(
                fields=["kind", "appointment"], name="one_appointment_breach_per_kind",
                condition=Q(appointment__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["kind", "installment_id"], name="one_installment_breach_per_kind",
                condition=Q(installment_id__isnull=False),
            ),
        ]
        indexes = [
            models.Index(fields=["store", "kind"]), models.Index(fields=["merchant", "detected_at"]),
            # The escalation scan's two walks (keyset): breaches not yet escalated at each level, still open.
            models.Index(fields=["detected_at", "id"], name="breach_brand_pending_idx",
                         condition=Q(brand_escalated_at__isnull=True, resolved_at__isnull=True)),
            models.Index(fields=["brand_escalated_at", "id"], name="breach_platform_pending_idx",
                         condition=Q(platform_escalated_at__isnull=True, brand_escalated_at__isnull=False,
                                     resolved_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.order_id}"

    class Level(models.IntegerChoices):
        STORE = 0, _("Store")
        BRAND = 1, _("Brand")
        PLATFORM = 2, _("Platform")

    @property
    def escalation_level(self) -> int:
        """Who has been told: the store (at the breach), the brand's admins, the platform's operators."""
        if self.platform_escalated_at is not None:
            return self.Level.PLATFORM
        return self.Level.BRAND if self.brand_escalated_at is not None else self.Level.STORE


class EscalationSetting(models.Model):
    """A brand's own delay before an unresolved SLA breach goes from its store to its admins (insights.escalation).
    Without a row, the platform's default (INSIGHTS_ESCALATE_BRAND_AFTER_HOURS) applies."""

    merchant = models.OneToOneField(Merchant, on_delete=models.CASCADE, related_name="escalation_setting")
    brand_after_hours = models.PositiveIntegerField(
        _("tell the brand after (hours)"), validators=[MinValueValidator(1), MaxValueValidator(24 * 30)],
        help_text=_("An SLA breach still unresolved this many hours after the store was told goes to the brand's "
                    "admins."))
    updated_at = models.DateTimeField(auto_now=True)

    tenant_scope = TenantScope(merchant="merchant")

    class Meta:
        verbose_name = _("SLA escalation setting")
        verbose_name_plural = _("SLA escalation settings")

    def __str__(self) -> str:
        return f"{self.merchant}: {self.brand_after_hours} h"


class Dashboard(SlaBreach):
    """Proxy that gives the dashboard its admin page at /admin/insights/dashboard/."""

    class Meta:
        proxy = True
        verbose_name = "dashboard"
        verbose_name_plural = "dashboard"


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class WebhookEndpoint(models.Model):
    """A merchant's own system (its CRM, say) that receives the merchant's order events."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500, help_text=_("http(s) URL that receives a signed POST per event."))
    secret = models.CharField(max_length=100, default=new_webhook_secret,
                              help_text=_("Shared secret for the X-Signature HMAC-SHA256 header."))
    active = models.BooleanField(default=True)
    event_kinds = models.JSONField(
        default=list, blank=True,
        help_text='Event kinds to send, e.g. ["stage.approve", "payment.*"]; empty sends every event.',
    )
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    tenant_scope = TenantScope(merchant="merchant")  # store managers see none (secrets)

    class Meta:
        ordering = ["merchant_id", "pk"]

    def __str__(self) -> str:
        return self.url

    def wants(self, kind: str) -> bool:
        if not self.event_kinds:
            return True
        for pattern in self.event_kinds:
            pattern = str(pattern)
            if pattern == kind or (pattern.endswith("*") and kind.startswith(pattern[:-1])):
                return True
        return False


class OutboundDelivery(models.Model):
    """One event to one endpoint. Unique per (endpoint, event), so an event is never queued twice."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Gave up")

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(OrderEvent, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    response_snippet = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    tenant_scope = TenantScope(merchant="endpoint__merchant")

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "outbound deliveries"
        constraints = [models.UniqueConstraint(fields=["endpoint", "event"], name="one_delivery_per_endpoint_event")]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event} -> {self.endpoint}"


class DayFigure(models.Model):
    """One additive component of the platform figures for one finished day (in the site's time zone), merchant
    and store: a count and, where the figure has one, a sum (seconds, metres) as an exact Decimal. Written by the
    periodic roll-up (insights.rollups), read by the metrics and the dashboard for the finished days of a window,
    so they read days, not every row; averages and rates are computed from these sums."""

    day = models.DateField()
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    figure = models.CharField(max_length=20)  # checkins, stages, rework, breaches
    key = models.CharField(max_length=60)  # e.g. on_time, a stage code, a breach kind
    count = models.BigIntegerField(default=0)
    total = models.DecimalField(max_digits=24, decimal_places=6, null=True, blank=True)

    tenant_scope = TenantScope(merchant="merchant", store="store")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "merchant", "store", "figure", "key"],
                                               name="one_day_figure")]
        indexes = [models.Index(fields=["merchant", "day"]), models.Index(fields=["store", "day"])]

    def __str__(self) -> str:
        return f"{self.day} {self.store_id} {self.figure}.{self.key}"


class RollupState(models.Model):
    """The one row saying what DayFigure holds: every fact before `rolled_until` (whole days before its day, and its
    day up to that moment)."""

    rolled_until = models.DateTimeField()
    rolled_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"rolled until {self.rolled_until}"


class DayHistogram(models.Model):
    """The durations of one day's done stages of one stage code, merchant and store, as counts per fixed log-spaced
    bucket (insights.histograms): {"bucket index": count}, so a row's size is bounded by the number of buckets, not
    by the number of orders. Written by the periodic roll-up beside DayFigure; the approximate p50/p90 of a window
    are interpolated from the window's buckets."""

    day = models.DateField()
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=60)  # the stage code
    counts = models.JSONField(default=dict)  # this day's
    # This day's and every earlier day's of the same merchant, store and stage code, so that a window's histogram is
    # the cumulative counts on its last day less those before its first: two rows per store and stage code, whatever
    # the number of days.
    cumulative = models.JSONField(default=dict)

    tenant_scope = TenantScope(merchant="merchant", store="store")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "merchant", "store", "code"], name="one_day_histogram")]
        # The latest day per merchant, store and stage code (insights.histograms._latest) from the index alone.
        indexes = [models.Index(fields=["merchant", "store", "code", "day"], name="insights_dayhist_group_idx"),
                   models.Index(fields=["store", "code", "day"], name="insights_dayhist_store_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.store_id} {self.code}"
