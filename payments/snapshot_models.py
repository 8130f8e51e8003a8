"""What the consumers owe now, per brand, store and currency: a snapshot the platform's roll-up job takes (every 15
minutes, insights.tasks.roll_up_days calls payments.rollup.take_open_money_snapshot), so the metrics read a few
rows instead of every open installment of every active order. Models of the payments app (payments/models.py
imports them, so Django finds them there)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from tenancy.models import Merchant, Store
from tenancy.scoping import TenantScope


class OpenMoneySnapshot(models.Model):
    """The one row saying when the snapshot was taken (its rows hold the open installments of the active orders at
    that moment; none at all when nothing was owed)."""

    taken_at = models.DateTimeField()

    class Meta:
        verbose_name = _("open money snapshot")

    def __str__(self) -> str:
        return f"open money at {self.taken_at}"


class OpenMoney(models.Model):
    """The open installments (scheduled, due, in payment, failed) of one store's active orders in one currency, at
    the snapshot's time: outstanding = all of them, due_now = those no longer only scheduled."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3)
    outstanding = models.DecimalField(max_digits=18, decimal_places=2)
    due_now = models.DecimalField(max_digits=18, decimal_places=2)

    tenant_scope = TenantScope(merchant="merchant", store="store")

    class Meta:
        verbose_name = verbose_name_plural = _("open money")
        constraints = [models.UniqueConstraint(fields=["store", "currency"], name="one_open_money_per_store")]

    def __str__(self) -> str:
        return f"{self.store_id} {self.outstanding} {self.currency} open"
