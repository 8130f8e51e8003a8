"""Vouchers in the admin: a read-only record list. Staff see the state and `last4`, never the code."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from tenancy.admin import TenantScopedAdmin
from vouchers.models import Voucher, VoucherLockout


@admin.register(Voucher)
class VoucherAdmin(TenantScopedAdmin):
    read_only_records = True
    list_display = ("id", "order", "stage_code", "store", "state", "masked_code", "valid_from", "valid_until",
                    "redeemed_at", "redeemed_by")
    list_filter = ("state", "store")
    list_select_related = ("order", "stage__definition", "store", "redeemed_by")
    search_fields = ("order__number", "last4")
    date_hierarchy = "valid_until"
    fields = ("order", "stage", "store", "consumer", "state", "masked_code", "issued_at", "valid_from",
              "valid_until", "redeemed_at", "redeemed_by", "redeemed_job", "redeemed_latitude",
              "redeemed_longitude", "expired_at", "revoked_at", "expiry_reminded_at")
    readonly_fields = fields

    @admin.display(description=_("stage"))
    def stage_code(self, obj: Voucher) -> str:
        return obj.stage.definition.code

    @admin.display(description=_("code"))
    def masked_code(self, obj: Voucher) -> str:
        return obj.masked


@admin.register(VoucherLockout)
class VoucherLockoutAdmin(TenantScopedAdmin):
    read_only_records = True
    list_display = ("bucket", "user", "job", "store", "window_start", "locked_until", "created_at")
    list_select_related = ("user", "job", "store")
    fields = list_display
    readonly_fields = fields
