"""Price revisions (增减项): store staff propose a new total for an order, with the line items that explain the
change; the consumer accepts or declines. Accepting re-splits the unpaid installments (services/revisions.py)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tenancy.scoping import TenantScope
from workflows.models import MONEY, ServiceOrder


class PriceRevision(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Waiting for the consumer")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")

    order = models.ForeignKey(ServiceOrder, on_delete=models.PROTECT, related_name="price_revisions")
    old_total = models.DecimalField(**MONEY)
    new_total = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=300)
    # [{"description": str, "amount": "signed decimal string"}]: they add up to new_total - old_total.
    lines = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    # On acceptance: what was asked back from the captured payments (the new total was below what was paid).
    refund_amount = models.DecimalField(**MONEY, default=0)

    tenant_scope = TenantScope(merchant="order__merchant", store="order__store", consumer="order__consumer")

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["order"], condition=Q(status="open"), name="one_open_revision_per_order"),
            models.CheckConstraint(condition=Q(new_total__gt=0), name="revision_new_total_positive"),
        ]

    def __str__(self) -> str:
        return f"revision {self.pk} of order {self.order_id}: {self.old_total} -> {self.new_total} ({self.status})"
