"""Admin: installments, payments, refunds and ledger entries are records (read-only for everyone);
webhook deliveries are visible to platform operators only."""

from decimal import Decimal

from django import forms
from django.contrib import admin
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from payments.models import Installment, LedgerEntry, Payment, Refund, WebhookDelivery
from payments.services import payment_refund
from tenancy.admin import TenantScopedAdmin
from workflows.admin.common import back_to_order, confirm_page, run_action, staff_may, visible_or_404


class RefundForm(forms.Form):
    amount = forms.DecimalField(label=gettext_lazy("Amount to refund"), max_digits=14, decimal_places=2,
                                min_value=Decimal("0.01"))
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=300, required=False)


class RecordAdmin(TenantScopedAdmin):
    read_only_records = True

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


@admin.register(Installment)
class InstallmentAdmin(RecordAdmin):
    list_display = ("id", "order", "position", "timing", "amount", "currency", "state", "due_at", "paid_at")
    list_filter = ("state", "timing")
    search_fields = ("order__number",)
    list_select_related = ("order",)


@admin.register(Payment)
class PaymentAdmin(RecordAdmin):
    list_display = ("id", "order", "installment", "provider", "amount", "currency", "status", "created_at",
                    "captured_at")
    list_filter = ("status", "provider")
    search_fields = ("order__number", "provider_payment_id", "reference")
    list_select_related = ("order",)

    def get_urls(self):
        return [path("<int:pk>/refund/", self.admin_site.admin_view(self.refund_view), name="payments_payment_refund"),
                *super().get_urls()]

    def refund_view(self, request, pk):
        """Refund part of a captured payment from the order page: payments.services.payment_refund, as the API."""
        payment = visible_or_404(Payment.objects.select_related("order"), request.user, pk)
        if not staff_may(request, "refund"):
            run_action(request, action="refund", do=lambda: None, success="")
            return back_to_order(payment.order_id)
        form = RefundForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            v = form.cleaned_data
            run_action(request, action="refund", success=_("The refund was asked of the payment provider."),
                       do=lambda: payment_refund(payment=payment, amount=v["amount"], actor=request.user,
                                                 reason=v["reason"]))
            return back_to_order(payment.order_id)
        return confirm_page(request, self.admin_site, form=form, order=payment.order, danger=True,
                            title=_("Refund part of a payment"), submit=_("Refund"),
                            intro=_("Paid %(amount)s %(currency)s through %(channel)s. The money goes back the "
                                    "way it came.") % {"amount": payment.amount, "currency": payment.currency,
                                                       "channel": payment.provider})


@admin.register(Refund)
class RefundAdmin(RecordAdmin):
    list_display = ("id", "payment", "amount", "currency", "status", "reason", "created_at", "last_sent_at",
                    "pending_answers", "next_send_at", "settled_at")
    list_filter = ("status",)
    search_fields = ("provider_refund_id", "payment__order__number")


@admin.register(LedgerEntry)
class LedgerEntryAdmin(RecordAdmin):
    list_display = ("id", "order", "kind", "amount", "currency", "installment", "payment", "created_at")
    list_filter = ("kind", "currency")
    search_fields = ("order__number",)
    list_select_related = ("order",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(RecordAdmin):
    view_action = "admin.platform"  # deliveries span tenants and keep raw bodies
    list_display = ("id", "provider", "provider_event_id", "event_type", "status", "signature_valid", "processed",
                    "result", "received_at")
    list_filter = ("provider", "status", "signature_valid", "processed")
    search_fields = ("provider_event_id",)
