"""Workflow templates (merchant side) and service orders (consumer side).

A template has versions; stage definitions belong to a version. At most one version of a
template is a draft; published versions are immutable, and an order keeps the version it was
created from. The order's state machine is built at runtime from its version (workflows.engine).
"""

import secrets
import uuid
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from core import money
from core.files import OPAQUE, extension_for
from tenancy.models import Merchant, Store
from tenancy.scoping import TenantScope
from workflows.chain_tail import EventChainTail
from workflows.scoping import seen_through_visits

MONEY = {"max_digits": 14, "decimal_places": 2}


class WorkflowTemplate(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="templates")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    tenant_scope = TenantScope(merchant="merchant", store_manager_sees="merchant")

    class Meta:
        ordering = ["merchant_id", "name"]

    def __str__(self) -> str:
        return self.name


class TemplateVersion(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")

    template = models.ForeignKey(WorkflowTemplate, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(null=True, blank=True, help_text=_("Set when published."))
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    tenant_scope = TenantScope(merchant="template__merchant", store_manager_sees="merchant")

    class Meta:
        ordering = ["template_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="unique_version_number"),
            models.UniqueConstraint(fields=["template"], condition=Q(status="draft"), name="one_draft_per_template"),
        ]

    def __str__(self) -> str:
        label = f"v{self.number}" if self.number else "draft"
        return f"{self.template.name} {label}"

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.PUBLISHED


class StageDefinition(models.Model):
    class PaymentTiming(models.TextChoices):
        BEFORE = "before", _("Due before the stage starts")
        AFTER = "after", _("Due after the stage is done")

    version = models.ForeignKey(TemplateVersion, on_delete=models.CASCADE, related_name="stages")
    position = models.PositiveIntegerField()
    code = models.SlugField(max_length=40)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    requires_appointment = models.BooleanField(default=False)
    appointment_minutes = models.PositiveIntegerField(default=120, validators=[MinValueValidator(15)])
    requires_approval = models.BooleanField(default=False)
    # Approving takes the consumer's handwritten signature (a PNG kept as a "signature" evidence file).
    approval_requires_signature = models.BooleanField(default=False)
    max_rework_rounds = models.PositiveIntegerField(default=2, validators=[MaxValueValidator(20)])
    min_photos = models.PositiveIntegerField(default=0, validators=[MaxValueValidator(50)])
    checklist = models.JSONField(default=list, blank=True, help_text=_("Items the technician must tick off."))
    requires_voucher = models.BooleanField(default=False)
    # At most ten years: a voucher's valid_until is issue time + this many days (far more overflowed: a 500).
    voucher_valid_days = models.PositiveIntegerField(default=90, validators=[MinValueValidator(1),
                                                                             MaxValueValidator(3650)])
    payment_share = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("100"))],
        help_text=_("Percentage of the order total carried by this stage, or empty for none."))
    # A fixed amount instead of a share (a booking deposit of 500 CNY): taken first, the shares split the rest.
    payment_amount = models.DecimalField(
        **MONEY, null=True, blank=True, validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_("A fixed amount carried by this stage instead of a share (e.g. a deposit), or empty."))
    payment_currency = models.CharField(max_length=3, default="CNY", help_text=_("Currency of the fixed amount."))
    payment_timing = models.CharField(max_length=10, choices=PaymentTiming.choices, default=PaymentTiming.BEFORE)
    sla_hours = models.PositiveIntegerField(null=True, blank=True, help_text=_("Hours to finish once started."))
    arrival_tolerance_minutes = models.PositiveIntegerField(default=15)
    refundable_on_cancel = models.BooleanField(default=True)
    # Only technicians with this skill (User.skills) are offered the stage's visits: "" for anyone.
    required_skill = models.SlugField(max_length=40, blank=True, default="",
                                      help_text="e.g. measure, design, install, repair; empty: any technician.")

    tenant_scope = TenantScope(merchant="version__template__merchant", store_manager_sees="merchant")

    class Meta:
        ordering = ["version_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "code"], name="unique_stage_code_per_version"),
            models.UniqueConstraint(fields=["version", "position"], name="unique_stage_position_per_version"),
            models.CheckConstraint(condition=Q(payment_share__isnull=True) | Q(payment_amount__isnull=True),
                                   name="stage_payment_share_or_amount"),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.name}"

    def clean(self):
        super().clean()
        if errors := money.part_errors(self.payment_share, self.payment_amount, self.payment_currency):
            raise ValidationError(errors)

    @property
    def carries_payment(self) -> bool:
        return self.payment_part is not None

    @property
    def payment_part(self) -> money.Part | None:
        """What this stage pays of an order's total (core.money.allocate_with_fixed), or None."""
        if self.payment_amount is not None and self.payment_amount > 0:
            return money.Part(fixed=self.payment_amount, currency=self.payment_currency)
        if self.payment_share is not None and self.payment_share > 0:
            return money.Part(share=self.payment_share)
        return None

    @property
    def has_site_work(self) -> bool:
        return self.requires_appointment or bool(self.min_photos) or bool(self.checklist) or self.requires_voucher

    @property
    def is_passive(self) -> bool:
        """Nothing to do in it but pay: it completes as soon as it is ready."""
        return not (self.has_site_work or self.requires_approval)


class TemplateDistribution(models.Model):
    """A published version made available to one store, with what the store may adjust."""

    template = models.ForeignKey(WorkflowTemplate, on_delete=models.CASCADE, related_name="distributions")
    version = models.ForeignKey(TemplateVersion, on_delete=models.PROTECT, related_name="distributions")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="distributions")
    # The store's own values, within the template's StoreBounds (workflows.store_values). Payment shares never.
    appointment_minutes_overrides = models.JSONField(default=dict, blank=True)  # {stage code: minutes}
    sla_hours_overrides = models.JSONField(default=dict, blank=True)  # {stage code: hours}, tighter only
    extra_checklist = models.JSONField(default=dict, blank=True)  # {stage code: [items added to its checklist]}
    reminder_lead_hours = models.PositiveIntegerField(null=True, blank=True)
    distributed_at = models.DateTimeField(auto_now=True)
    distributed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    tenant_scope = TenantScope(merchant="template__merchant", store="store")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["template", "store"], name="one_distribution_per_store")]

    def __str__(self) -> str:
        return f"{self.version} @ {self.store}"


class StoreBounds(models.Model):
    """What a brand lets the stores of one template change (二次开发), and within which bounds."""
    template = models.OneToOneField(WorkflowTemplate, on_delete=models.CASCADE, related_name="store_bounds")
    appointment_open = models.BooleanField(_("stores may set appointment lengths"), default=False)
    appointment_min_minutes = models.PositiveIntegerField(_("shortest appointment (minutes)"), default=15)
    appointment_max_minutes = models.PositiveIntegerField(_("longest appointment (minutes)"), default=720)
    sla_open = models.BooleanField(_("stores may tighten SLA hours"), default=False)
    reminder_open = models.BooleanField(_("stores may set the reminder lead time"), default=False)
    reminder_min_hours = models.PositiveIntegerField(_("shortest reminder lead (hours)"), default=1)
    reminder_max_hours = models.PositiveIntegerField(_("longest reminder lead (hours)"), default=72)
    checklist_open = models.BooleanField(_("stores may add checklist items"), default=False)
    checklist_max_items = models.PositiveIntegerField(_("most items a store adds per stage"), default=3)
    tenant_scope = TenantScope(merchant="template__merchant", store_manager_sees="merchant")

    class Meta:
        verbose_name = verbose_name_plural = _("store bounds")

    def __str__(self) -> str:
        return f"{self.template}: store bounds"


def new_order_number() -> str:
    return "SO" + secrets.token_hex(5).upper()


class ServiceOrder(EventChainTail):  # the event chain's tail on the row: workflows.chain_tail
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")

    number = models.CharField(max_length=20, unique=True, default=new_order_number)
    # The brand's own order number (a marketplace order, its ERP's): unique per brand, so a retried import finds
    # the order it made instead of making a second one. "" when the brand gave none.
    external_ref = models.CharField(max_length=64, blank=True, default="")
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="orders")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="orders")
    consumer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders")
    template_version = models.ForeignKey(TemplateVersion, on_delete=models.PROTECT, related_name="orders")
    total_amount = models.DecimalField(**MONEY, validators=[MinValueValidator(Decimal("0.01"))])
    currency = models.CharField(max_length=3, default="CNY")
    service_address = models.CharField(max_length=300)
    latitude = models.DecimalField(max_digits=9, decimal_places=6)
    longitude = models.DecimalField(max_digits=9, decimal_places=6)
    # The engine's state: "<stage code>:<sub-state>", "closing", "completed" or "cancelled".
    state = models.CharField(max_length=80, db_index=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    current_stage = models.ForeignKey(
        "StageInstance", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True)
    # Bumping it revokes every tracking link handed out before.
    tracking_token_version = models.PositiveIntegerField(default=1)
    # Set while the order waits on the consumer outside the engine's states (a price revision's answer): the current
    # stage's SLA clock stands still until then (workflows.services.sla_hold), whatever sub-state it moves to.
    sla_held_since = models.DateTimeField(null=True, blank=True)

    tenant_scope = TenantScope(merchant="merchant", store="store", consumer="consumer",
                               **seen_through_visits("appointments"))

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["store", "status"]), models.Index(fields=["merchant", "status"])]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "external_ref"], condition=~models.Q(external_ref=""),
                                    name="unique_external_ref_per_merchant"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_final(self) -> bool:
        return self.status != self.Status.ACTIVE


class StageInstance(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("Not started")
        WAITING_PAYMENT = "waiting_payment", _("Waiting for payment")
        READY = "ready", _("Ready")
        SCHEDULED = "scheduled", _("Scheduled")
        IN_PROGRESS = "in_progress", _("In progress")
        AWAITING_APPROVAL = "awaiting_approval", _("Waiting for approval")
        ESCALATED = "escalated", _("Escalated to the store")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    order = models.ForeignKey(ServiceOrder, on_delete=models.CASCADE, related_name="stages")
    definition = models.ForeignKey(StageDefinition, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveIntegerField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    rework_rounds = models.PositiveIntegerField(default=0)
    entered_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    sla_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # The SLA clock stops while the order waits on the consumer (a payment, an approval): set while it is
    # stopped; on resuming, the due time moves by the pause, which is added to waiting_seconds.
    sla_paused_at = models.DateTimeField(null=True, blank=True)
    waiting_seconds = models.PositiveBigIntegerField(default=0)
    # Set by insights' SLA scan once the stage's breach is recorded, so it leaves the scan's partial indexes.
    sla_overdue_reported_at = models.DateTimeField(null=True, blank=True, editable=False)
    approval_overdue_reported_at = models.DateTimeField(null=True, blank=True, editable=False)
    submission_notes = models.TextField(blank=True)

    tenant_scope = TenantScope(
        merchant="order__merchant",
        store="order__store",
        consumer="order__consumer",
        **seen_through_visits("appointments"),
    )

    class Meta:
        ordering = ["order_id", "position"]
        constraints = [models.UniqueConstraint(fields=["order", "position"], name="unique_stage_position_per_order")]

    def __str__(self) -> str:
        return f"{self.order.number} #{self.position} {self.definition.code}"

    @property
    def code(self) -> str:
        return self.definition.code


def submission_upload_to(instance: "StageSubmissionFile", filename: str) -> str:
    """A name the server chooses, in the merchant's own folder: the uploader's file name never reaches the
    storage (it is kept as data, `original_name`)."""
    return f"submissions/{instance.stage.order.merchant_id}/{uuid.uuid4().hex}.{instance.extension}"


class StageSubmissionFile(models.Model):
    """Work delivered for an off-site stage (a design draft, say): a PDF or a JPEG/PNG/WebP image, its type
    detected from the bytes at upload. Downloaded through GET /api/v1/stages/{id}/files/{file_id}/."""

    stage = models.ForeignKey(StageInstance, on_delete=models.CASCADE, related_name="submission_files")
    file = models.FileField(upload_to=submission_upload_to, max_length=200)
    original_name = models.CharField(max_length=200, blank=True,
                                     help_text=_("The uploader's file name, shown as data; never a storage path."))
    content_type = models.CharField(max_length=100, default=OPAQUE,
                                    help_text=_("Detected from the content, not the upload."))
    size = models.PositiveBigIntegerField(default=0)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    tenant_scope = TenantScope(
        merchant="stage__order__merchant", store="stage__order__store", consumer="stage__order__consumer",
        **seen_through_visits("stage__order__appointments"),
    )

    class Meta:
        ordering = ["stage_id", "pk"]

    def __str__(self) -> str:
        return self.original_name or f"submission file {self.pk}"

    @property
    def extension(self) -> str:
        return extension_for(self.content_type)


class Appointment(ConcurrentTransitionMixin, models.Model):
    """An on-site visit for a stage. Its lifecycle is fixed, so it is a django-fsm machine."""

    class State(models.TextChoices):
        BOOKED = "booked", _("Booked")
        CHECKED_IN = "checked_in", _("Technician on site")
        CHECKED_OUT = "checked_out", _("Visit finished")
        NO_SHOW = "no_show", _("Technician did not come")
        CANCELLED = "cancelled", _("Cancelled")

    ACTIVE_STATES = (State.BOOKED, State.CHECKED_IN)

    order = models.ForeignKey(ServiceOrder, on_delete=models.CASCADE, related_name="appointments")
    stage = models.ForeignKey(StageInstance, on_delete=models.CASCADE, related_name="appointments")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="appointments")
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="appointments"
    )
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    state = FSMField(default=State.BOOKED, choices=State.choices, protected=True)
    reschedule_count = models.PositiveIntegerField(default=0)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    checked_out_at = models.DateTimeField(null=True, blank=True)

    tenant_scope = TenantScope(
        merchant="order__merchant", store="store", consumer="order__consumer", technician="technician"
    )

    class Meta:
        ordering = ["window_start", "pk"]
        indexes = [
            models.Index(fields=["technician", "window_start"]),
            models.Index(fields=["store", "window_start"]),
            models.Index(fields=["state", "window_end"]),
        ]
        constraints = [models.CheckConstraint(condition=Q(window_start__lt=models.F("window_end")),
                                              name="appointment_window_ordered")]

    def __str__(self) -> str:
        return f"{self.stage} at {self.window_start:%Y-%m-%d %H:%M}"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES

    @transition(field=state, source=State.BOOKED, target=State.CHECKED_IN)
    def mark_checked_in(self, at) -> None:
        self.checked_in_at = at

    @transition(field=state, source=State.CHECKED_IN, target=State.CHECKED_OUT)
    def mark_checked_out(self, at) -> None:
        self.checked_out_at = at

    @transition(field=state, source=State.BOOKED, target=State.NO_SHOW)
    def mark_no_show(self) -> None:
        pass

    @transition(field=state, source=[State.BOOKED, State.CHECKED_IN], target=State.CANCELLED)
    def mark_cancelled(self) -> None:
        pass


class OrderEvent(models.Model):
    """Append-only record of everything that happened to an order; hash-chained per order.

    Rows are only ever created by workflows.events.record_event: there is no update path.
    """

    order = models.ForeignKey(ServiceOrder, on_delete=models.PROTECT, related_name="events")
    seq = models.PositiveIntegerField()
    stage = models.ForeignKey(StageInstance, null=True, blank=True, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=60, db_index=True)
    trigger = models.CharField(max_length=40, blank=True)
    from_state = models.CharField(max_length=80, blank=True)
    to_state = models.CharField(max_length=80, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    actor_role = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(db_index=True)
    payload = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64)

    tenant_scope = TenantScope(merchant="order__merchant", store="order__store", consumer="order__consumer")

    class Meta:
        ordering = ["order_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["order", "seq"], name="unique_event_seq_per_order")]
        indexes = [models.Index(fields=["kind", "created_at"])]

    def __str__(self) -> str:
        return f"{self.order_id}#{self.seq} {self.kind}"
