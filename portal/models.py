"""What the consumer's page keeps: the SMS codes that prove the phone, the sessions they open on a device, and
the consumer's rating of the service."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenancy.scoping import TenantScope
from workflows.models import Appointment, ServiceOrder


class VerificationCode(models.Model):
    """A 6-digit code sent by SMS to the order's consumer phone. Only its keyed hash is kept."""

    order = models.ForeignKey(ServiceOrder, on_delete=models.CASCADE, related_name="+")
    phone = models.CharField(max_length=32)
    code_hash = models.CharField(max_length=64)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["phone", "created_at"], name="portal_code_phone_time"),
            models.Index(fields=["ip", "created_at"], name="portal_code_ip_time"),
            models.Index(fields=["order", "created_at"], name="portal_code_order_time"),
        ]

    def __str__(self) -> str:
        return f"code for order {self.order_id}"


class ConsumerSession(models.Model):
    """Proof that this device's holder had the consumer's phone, for one order and one version of its link.
    The cookie holds a random key; only its SHA-256 is kept."""

    order = models.ForeignKey(ServiceOrder, on_delete=models.CASCADE, related_name="+")
    key_hash = models.CharField(max_length=64, unique=True)
    link_version = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"session for order {self.order_id}"


def _rating_scope() -> TenantScope:
    return TenantScope(merchant="order__merchant", store="order__store", consumer="order__consumer")


class Rating(models.Model):
    """The consumer's rating of a completed order (1-5 stars), given once and changeable for a while."""

    order = models.OneToOneField(ServiceOrder, on_delete=models.PROTECT, related_name="rating")
    score = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True, max_length=1000)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    tenant_scope = _rating_scope()

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(score__gte=1, score__lte=5),
                                              name="portal_rating_score_1_5")]

    def __str__(self) -> str:
        return f"{self.score}/5 for order {self.order_id}"


class VisitRating(models.Model):
    """The stars for one on-site visit's technician, part of the order's rating."""

    rating = models.ForeignKey(Rating, on_delete=models.CASCADE, related_name="visits")
    appointment = models.ForeignKey(Appointment, on_delete=models.PROTECT, related_name="+")
    technician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    score = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rating", "appointment"], name="portal_one_rating_per_visit"),
            models.CheckConstraint(condition=models.Q(score__gte=1, score__lte=5), name="portal_visit_score_1_5"),
        ]

    def __str__(self) -> str:
        return f"{self.score}/5 for visit {self.appointment_id}"
