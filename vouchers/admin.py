"""Vouchers in the admin: a read-only record list (staff see the state and `last4`, never the code), and the
counter's redeem page (the code typed, or scanned with the camera)."""

from django import forms
from django.contrib import admin
from django.shortcuts import redirect
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tenancy.admin import TenantScopedAdmin
from tenancy.scoping import visible_to
from vouchers.models import Voucher, VoucherLockout
from vouchers.services import voucher_redeem
from workflows.admin.common import confirm_page, order_page_url, run_action, staff_may
from workflows.models import ServiceOrder


class RedeemForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("The consumer's e-voucher code"), max_length=64,
                           widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True,
                                                         "inputmode": "text", "autocapitalize": "characters"}))


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

    def get_urls(self):
        return [path("redeem/", self.admin_site.admin_view(self.redeem_view), name="vouchers_voucher_redeem"),
                *super().get_urls()]

    def redeem_view(self, request):
        """Redeem at the counter: the consumer's code typed in or read from its QR code by the device's camera
        (redeem-scan.js fills the field; the staff member still presses Redeem), vouchers.services.voucher_redeem
        as the API (the same throttle and store rules). `?order=` only says which order page to go back to."""
        order = visible_to(ServiceOrder.objects.all(), request.user).filter(
            pk=request.GET.get("order") if str(request.GET.get("order", "")).isdigit() else None).first()
        back = order_page_url(order.pk) if order is not None else "admin:workflows_order_day"
        if not staff_may(request, "redeem"):
            run_action(request, action="redeem", do=lambda: None, success="")
            return redirect(back)
        form = RedeemForm(request.POST or None)
        redeemed = request.method == "POST" and form.is_valid() and run_action(
            request, action="redeem", success=_("The e-voucher was redeemed."),
            do=lambda: voucher_redeem(code=form.cleaned_data["code"], actor=request.user))
        if redeemed:
            return redirect(back)
        return confirm_page(request, self.admin_site, form=form, order=order, title=_("Redeem at the counter"),
                            submit=_("Redeem"), template="admin/vouchers/redeem.html",
                            intro=_("Type the code the consumer shows (letters and digits; spaces and dashes do not "
                                    "matter)."))

    @admin.display(description=gettext_lazy("stage"))
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
