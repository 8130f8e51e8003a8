"""E-vouchers: single-use certificates entitling the consumer to one stage's service.

The code is never stored in clear: `lookup_hash` (HMAC-SHA256 with a key from settings) finds
the row, `code_encrypted` (Fernet) lets the consumer see it again, `last4` is what staff see.
The lifecycle is fixed (issued -> redeemed | expired | revoked): a protected FSMField with
ConcurrentTransitionMixin, so a stale copy can never overwrite a newer state.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from tenancy.models import Store
from tenancy.scoping import TenantScope
from workflows.models import Appointment, ServiceOrder, StageInstance
from workflows.scoping import seen_through_visits


class Voucher(ConcurrentTransitionMixin, models.Model):
    class State(models.TextChoices):
        ISSUED = "issued", _("Issued")
        REDEEMED = "redeemed", _("Redeemed")
        EXPIRED = "expired", _("Expired")
        REVOKED = "revoked", _("Revoked")

    LIVE_STATES = (State.ISSUED, State.REDEEMED)

    order = models.ForeignKey(ServiceOrder, on_delete=models.CASCADE, related_name="vouchers")
    stage = models.ForeignKey(StageInstance, on_delete=models.CASCADE, related_name="vouchers")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="vouchers")
    consumer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="vouchers")
    state = FSMField(default=State.ISSUED, choices=State.choices, protected=True, db_index=True)
    lookup_hash = models.CharField(max_length=64, unique=True, editable=False)
    code_encrypted = models.TextField(editable=False)
    last4 = models.CharField(max_length=4, editable=False)
    issued_at = models.DateTimeField()
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField(db_index=True)
    redeemed_at = models.DateTimeField(null=True, blank=True)
    redeemed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    redeemed_latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    redeemed_longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    redeemed_job = models.ForeignKey(
        Appointment, null=True, blank=True, on_delete=models.SET_NULL, related_name="redeemed_vouchers"
    )
    expired_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expiry_reminded_at = models.DateTimeField(null=True, blank=True)

    tenant_scope = TenantScope(
        merchant="order__merchant", store="store", consumer="consumer", **seen_through_visits("stage__appointments")
    )

    class Meta:
        ordering = ["-issued_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["stage"], condition=Q(state__in=["issued", "redeemed"]), name="one_live_voucher_per_stage"
            ),
        ]
        indexes = [models.Index(fields=["state", "valid_until"])]

    def __str__(self) -> str:
        return f"Voucher …{self.last4} ({self.state})"

    @property
    def masked(self) -> str:
        return f"****-****-****-***{self.last4[:-1]}-{self.last4[-1]}"

    @transition(field=state, source=State.ISSUED, target=State.REDEEMED)
    def redeem(self, *, by, at, job=None, latitude=None, longitude=None) -> None:
        self.redeemed_by, self.redeemed_at, self.redeemed_job = by, at, job
        self.redeemed_latitude, self.redeemed_longitude = latitude, longitude

    @transition(field=state, source=State.ISSUED, target=State.EXPIRED)
    def expire(self, *, at) -> None:
        self.expired_at = at

    @transition(field=state, source=State.ISSUED, target=State.REVOKED)
    def revoke(self, *, at) -> None:
        self.revoked_at = at


class RedeemFailureCounter(models.Model):
    """Failed redeem attempts of one user or one job in one fixed window (a minute or an hour).

    Counted in the database, with row locks, so the limit holds across processes and concurrent
    requests (a per-process cache or DRF's throttles would let parallel guesses through)."""

    bucket = models.CharField(max_length=80)  # "user:<id>:m", "job:<id>:h"
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bucket", "window_start"], name="unique_redeem_failure_window"),
        ]
        indexes = [models.Index(fields=["window_start"])]

    def __str__(self) -> str:
        return f"{self.bucket}@{self.window_start:%Y-%m-%d %H:%M}: {self.count}"


class VoucherLockout(models.Model):
    """A user or a job that hit the failed-redeem limit: the platform-level record of a lockout.

    When the attempts named a job, the job's order also gets a "voucher.lockout" event."""

    bucket = models.CharField(max_length=80)
    window_start = models.DateTimeField()
    locked_until = models.DateTimeField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    job = models.ForeignKey(Appointment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    store = models.ForeignKey(Store, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    tenant_scope = TenantScope(store="store", merchant="store__merchant")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["bucket", "window_start"], name="one_lockout_per_window"),
        ]

    def __str__(self) -> str:
        return f"lockout {self.bucket} until {self.locked_until:%Y-%m-%d %H:%M}"
