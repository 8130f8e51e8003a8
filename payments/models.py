"""Staged payments: installments per stage, payment attempts, refunds, webhook deliveries and the ledger.

Installment and Payment are fixed lifecycles (django-fsm, protected fields, no way round the
transitions). Every state change goes through payments.services, which locks the order first,
then the installment, then the payment (always in that order).
"""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from tenancy.scoping import TenantScope
from workflows.models import MONEY, ServiceOrder, StageInstance


def new_reference() -> str:
    """Our unguessable reference of a payment or refund (also the sandbox checkout token)."""
    return secrets.token_hex(16)


class Installment(ConcurrentTransitionMixin, models.Model):
    class State(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        DUE = "due", _("Due")
        PROCESSING = "processing", _("Payment in progress")
        PAID = "paid", _("Paid")
        FAILED = "failed", _("Last payment failed")
        WAIVED = "waived", _("Waived")
        CANCELLED = "cancelled", _("Cancelled")
        REFUNDED = "refunded", _("Refunded")
        PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")

    class Timing(models.TextChoices):
        BEFORE = "before", _("Due before the stage")
        AFTER = "after", _("Due after the stage")

    # Open: money is still owed. Settled: nothing more is owed (what the engine's guards ask).
    OPEN_STATES = (State.SCHEDULED, State.DUE, State.PROCESSING, State.FAILED)
    PAYABLE_STATES = (State.DUE, State.FAILED)
    SETTLED_STATES = (State.PAID, State.PARTIALLY_REFUNDED, State.REFUNDED, State.WAIVED)
    CHARGED_STATES = (State.PAID, State.PARTIALLY_REFUNDED, State.REFUNDED)
    WRITTEN_OFF_STATES = (State.WAIVED, State.CANCELLED)

    order = models.ForeignKey(ServiceOrder, on_delete=models.PROTECT, related_name="installments")
    stage = models.ForeignKey(StageInstance, on_delete=models.PROTECT, related_name="installments")
    position = models.PositiveIntegerField()
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    timing = models.CharField(max_length=10, choices=Timing.choices)
    refundable = models.BooleanField(help_text=_("Copied from the stage definition's refundable_on_cancel."))
    state = FSMField(default=State.SCHEDULED, choices=State.choices, protected=True)
    created_at = models.DateTimeField(auto_now_add=True)
    due_at = models.DateTimeField(null=True, blank=True)
    # When the platform's SLA scan reported it overdue (payments/plugin.py): each installment is reported once.
    overdue_reported_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    tenant_scope = TenantScope(merchant="order__merchant", store="order__store", consumer="order__consumer")

    class Meta:
        ordering = ["order_id", "position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["stage", "timing"], name="one_installment_per_stage_timing"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="installment_amount_not_negative"),
        ]
        indexes = [
            models.Index(fields=["order", "state"]),
            # The SLA scan's candidates: due installments not reported overdue yet.
            models.Index(fields=["due_at"], name="installment_due_unreported",
                         condition=Q(state="due", overdue_reported_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}#{self.position} {self.amount} {self.currency} ({self.state})"

    @transition(field=state, source=State.SCHEDULED, target=State.DUE)
    def mark_due(self, at) -> None:
        self.due_at = at

    @transition(field=state, source=[State.DUE, State.FAILED], target=State.PROCESSING)
    def mark_processing(self) -> None:
        pass

    @transition(field=state, source=[State.DUE, State.PROCESSING, State.FAILED], target=State.PAID)
    def mark_paid(self, at) -> None:
        self.paid_at = at

    @transition(field=state, source=State.PROCESSING, target=State.FAILED)
    def mark_failed(self) -> None:
        pass

    @transition(field=state, source=State.PROCESSING, target=State.DUE)
    def mark_released(self) -> None:
        """The open attempt expired or was abandoned: payable again."""

    @transition(field=state, source=[State.SCHEDULED, State.DUE, State.FAILED], target=State.WAIVED)
    def mark_waived(self) -> None:
        pass

    @transition(field=state, source=list(OPEN_STATES), target=State.CANCELLED)
    def mark_cancelled(self) -> None:
        pass

    @transition(field=state, source=[State.PAID, State.PARTIALLY_REFUNDED], target=State.PARTIALLY_REFUNDED)
    def mark_partially_refunded(self) -> None:
        pass

    @transition(field=state, source=[State.PAID, State.PARTIALLY_REFUNDED], target=State.REFUNDED)
    def mark_refunded(self) -> None:
        pass


class Payment(ConcurrentTransitionMixin, models.Model):
    """One attempt to pay an installment through a provider."""

    class Status(models.TextChoices):
        CREATED = "created", _("Created")
        PENDING = "pending", _("Waiting for the payer")
        CAPTURED = "captured", _("Captured")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired")
        CANCELLED = "cancelled", _("Cancelled")
        PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")
        REFUNDED = "refunded", _("Refunded")

    OPEN_STATUSES = (Status.CREATED, Status.PENDING)
    CAPTURED_STATUSES = (Status.CAPTURED, Status.PARTIALLY_REFUNDED, Status.REFUNDED)

    installment = models.ForeignKey(Installment, on_delete=models.PROTECT, related_name="payments")
    order = models.ForeignKey(ServiceOrder, on_delete=models.PROTECT, related_name="payments")
    provider = models.CharField(max_length=30)
    # How the payer pays (payments/channels.py): sandbox, alipay_wap, wechat_native ...
    channel = models.CharField(max_length=30, blank=True)
    # The brand's account at the provider the money goes to (none for the sandbox).
    account = models.ForeignKey("payments.PaymentAccount", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="payments")
    reference = models.CharField(max_length=64, unique=True, default=new_reference, editable=False)
    provider_payment_id = models.CharField(max_length=128, unique=True, null=True, blank=True)
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    status = FSMField(default=Status.CREATED, choices=Status.choices, protected=True)
    checkout_url = models.CharField(max_length=2000, blank=True)
    # What the payer's client does next: {"type": "redirect", "url"} | {"type": "qr", "code_url"} |
    # {"type": "jsapi", "params"} (the contract's `action`, kept as the provider answered it).
    action = models.JSONField(default=dict, blank=True)
    # Asking the provider about an open attempt whose notification has not come (services/reconciliation.py):
    # when it was last asked, how often it answered "still waiting", and when to ask again (the delay doubles).
    last_queried_at = models.DateTimeField(null=True, blank=True)
    waiting_answers = models.PositiveIntegerField(default=0)
    next_query_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    captured_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True, help_text=_("When it failed, expired or was cancelled."))

    tenant_scope = TenantScope(merchant="order__merchant", store="order__store", consumer="order__consumer")

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["installment"], condition=Q(status__in=["created", "pending"]),
                                    name="one_open_payment_per_installment"),
        ]
        indexes = [
            # The query job's candidates: open attempts at a real provider (the sandbox cannot be asked).
            models.Index(fields=["created_at"], name="payment_open_at_provider",
                         condition=Q(status__in=["created", "pending"]) & ~Q(provider="sandbox")),
        ]

    def __str__(self) -> str:
        return f"payment {self.pk} {self.amount} {self.currency} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    @transition(field=status, source=Status.CREATED, target=Status.PENDING)
    def mark_pending(self) -> None:
        pass

    # A capture is accepted after a failure or expiry too: the provider says the money arrived.
    @transition(field=status, source=[Status.CREATED, Status.PENDING, Status.FAILED, Status.EXPIRED,
                                      Status.CANCELLED], target=Status.CAPTURED)
    def mark_captured(self, at) -> None:
        self.captured_at = at

    @transition(field=status, source=[Status.CREATED, Status.PENDING], target=Status.FAILED)
    def mark_failed(self, at) -> None:
        self.closed_at = at

    @transition(field=status, source=[Status.CREATED, Status.PENDING], target=Status.EXPIRED)
    def mark_expired(self, at) -> None:
        self.closed_at = at

    @transition(field=status, source=[Status.CREATED, Status.PENDING], target=Status.CANCELLED)
    def mark_cancelled(self, at) -> None:
        self.closed_at = at

    @transition(field=status, source=[Status.CAPTURED, Status.PARTIALLY_REFUNDED],
                target=Status.PARTIALLY_REFUNDED)
    def mark_partially_refunded(self) -> None:
        pass

    @transition(field=status, source=[Status.CAPTURED, Status.PARTIALLY_REFUNDED], target=Status.REFUNDED)
    def mark_refunded(self) -> None:
        pass


class Refund(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Sent to the provider")
        SUCCEEDED = "succeeded", _("Refunded")
        FAILED = "failed", _("Failed")

    # Pending and succeeded refunds count against what is still refundable.
    COUNTED_STATUSES = (Status.PENDING, Status.SUCCEEDED)

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    reference = models.CharField(max_length=64, unique=True, default=new_reference, editable=False)
    provider_refund_id = models.CharField(max_length=128, unique=True, null=True, blank=True)
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=300, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    # When it was last asked of the provider, how many times the provider took it and answered "pending", and when
    # the periodic resubmission asks again: the delay doubles with each such answer, so a refund a provider never
    # confirms is asked ever more rarely and cannot crowd out newer ones (an unavailable provider does not count).
    last_sent_at = models.DateTimeField(null=True, blank=True)
    pending_answers = models.PositiveIntegerField(default=0)
    next_send_at = models.DateTimeField(null=True, blank=True)
    # When the store was told it is still pending after REFUND_STUCK_AFTER_HOURS (once per refund).
    stuck_reported_at = models.DateTimeField(null=True, blank=True)

    tenant_scope = TenantScope(merchant="payment__order__merchant", store="payment__order__store",
                               consumer="payment__order__consumer")

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive")]

    def __str__(self) -> str:
        return f"refund {self.pk} {self.amount} {self.currency} ({self.status})"


class WebhookDelivery(models.Model):
    """Every notification received, verified or not, kept raw for audit.

    Only one *accepted* delivery exists per (provider, provider_event_id): that unique constraint is
    what makes a repeated or concurrent delivery change nothing twice.
    """

    class Status(models.TextChoices):
        ACCEPTED = "accepted", _("Accepted")
        DUPLICATE = "duplicate", _("Duplicate of an accepted delivery")
        REJECTED = "rejected", _("Rejected (signature, timestamp, format or another account)")
        FAILED = "failed", _("Processing failed")

    provider = models.CharField(max_length=30)
    # The brand's account whose notification URL it came to (none for the sandbox's).
    account = models.ForeignKey("payments.PaymentAccount", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    provider_event_id = models.CharField(max_length=128, blank=True)
    event_type = models.CharField(max_length=60, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices)
    raw_body = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    signature_valid = models.BooleanField(default=False)
    processed = models.BooleanField(default=False)
    result = models.CharField(max_length=300, blank=True)
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    # No role path: only platform operators see deliveries (they span tenants and hold raw bodies).
    tenant_scope = TenantScope()

    class Meta:
        ordering = ["-received_at", "-pk"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["provider", "provider_event_id"], condition=Q(status="accepted"),
                                    name="one_accepted_delivery_per_event"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.provider_event_id or '-'} ({self.status})"


class LedgerEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError(_("Ledger entries are append-only."))

    def delete(self):
        raise TypeError(_("Ledger entries are append-only."))


class LedgerEntry(models.Model):
    """Append-only record of every money movement. Balances are derived from it, never stored."""

    class Kind(models.TextChoices):
        CHARGE = "charge", _("Charge")
        REFUND = "refund", _("Refund")

    order = models.ForeignKey(ServiceOrder, on_delete=models.PROTECT, related_name="ledger_entries")
    installment = models.ForeignKey(Installment, on_delete=models.PROTECT, related_name="ledger_entries")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="ledger_entries")
    refund = models.OneToOneField(Refund, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="ledger_entry")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount = models.DecimalField(**MONEY, help_text=_("Always positive; the kind gives the direction."))
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = LedgerEntryQuerySet.as_manager()

    tenant_scope = TenantScope(merchant="order__merchant", store="order__store", consumer="order__consumer")

    class Meta:
        ordering = ["order_id", "created_at", "pk"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_amount_positive"),
            # A payment is charged at most once.
            models.UniqueConstraint(fields=["payment"], condition=Q(kind="charge"), name="one_charge_per_payment"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.currency} (order {self.order_id})"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError(_("Ledger entries are append-only."))
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError(_("Ledger entries are append-only."))


# Models of this app kept in their own module (imported here so Django finds them).
from payments.account_models import PaymentAccount, ReconciliationRun  # noqa: E402, F401
from payments.revision_models import PriceRevision  # noqa: E402, F401
from payments.snapshot_models import OpenMoney, OpenMoneySnapshot  # noqa: E402, F401
