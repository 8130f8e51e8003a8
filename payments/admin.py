"""Admin: installments, payments, refunds and ledger entries are records (read-only for everyone);
webhook deliveries and reconciliation runs are visible to platform operators only; payment accounts are edited
by platform operators and the brand's admin (their own brand), their secrets write-only."""

from decimal import Decimal

from django import forms
from django.contrib import admin
from django.urls import path
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import DomainError
from payments.models import (
    Installment,
    LedgerEntry,
    Payment,
    PaymentAccount,
    PriceRevision,
    ReconciliationRun,
    Refund,
    WebhookDelivery,
)
from payments.services import account_fields_clean, payment_account_set, payment_refund, revision_propose
from tenancy.admin import TenantScopedAdmin
from workflows.admin.common import back_to_order, confirm_page, run_action, staff_may, visible_or_404
from workflows.models import ServiceOrder


class RefundForm(forms.Form):
    amount = forms.DecimalField(label=gettext_lazy("Amount to refund"), max_digits=14, decimal_places=2,
                                min_value=Decimal("0.01"))
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=300, required=False)


class RevisionForm(forms.Form):
    total_amount = forms.DecimalField(label=gettext_lazy("New total"), max_digits=14, decimal_places=2,
                                      min_value=Decimal("0.01"))
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=300)
    lines = forms.CharField(label=gettext_lazy("Items (增项 / 减项)"), widget=forms.Textarea(attrs={"rows": 4}),
                            help_text=gettext_lazy("One per line: description; amount (negative for 减项), e.g. "
                                                   "\"Extra shelf; 1500.00\". They add up to the new total minus the "
                                                   "current total."))

    def clean_lines(self) -> list[dict]:
        lines = []
        for text in self.cleaned_data["lines"].splitlines():
            if not text.strip():
                continue
            description, sep, amount = text.rpartition(";")
            if not sep or not description.strip():
                raise forms.ValidationError(_("Write each item as: description; amount"))
            lines.append({"description": description.strip(), "amount": amount.strip()})
        return lines


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
    list_display = ("id", "order", "installment", "channel", "account", "amount", "currency", "status", "created_at",
                    "captured_at", "last_queried_at")
    list_filter = ("status", "provider", "channel")
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


@admin.register(PriceRevision)
class PriceRevisionAdmin(RecordAdmin):
    list_display = ("id", "order", "old_total", "new_total", "currency", "status", "reason", "created_at",
                    "answered_at", "refund_amount")
    list_filter = ("status",)
    search_fields = ("order__number",)
    list_select_related = ("order",)

    def get_urls(self):
        return [path("propose/<int:order_pk>/", self.admin_site.admin_view(self.propose_view),
                     name="payments_pricerevision_propose"), *super().get_urls()]

    def propose_view(self, request, order_pk):
        """Propose a price revision (增减项) from the order page: payments.services.revision_propose, as the API."""
        order = visible_or_404(ServiceOrder.objects.all(), request.user, order_pk)
        if not staff_may(request, "revision.propose"):
            run_action(request, action="revision.propose", do=lambda: None, success="")
            return back_to_order(order.pk)
        form = RevisionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            v = form.cleaned_data
            run_action(request, action="revision.propose",
                       success=_("The new price was sent to the consumer to accept or decline."),
                       do=lambda: revision_propose(order=order, actor=request.user, total_amount=v["total_amount"],
                                                   reason=v["reason"], lines=v["lines"]))
            return back_to_order(order.pk)
        return confirm_page(request, self.admin_site, form=form, order=order, title=_("Propose a price revision"),
                            submit=_("Send to the consumer"),
                            intro=_("The total is %(amount)s %(currency)s now. The consumer accepts or declines the "
                                    "new total; on acceptance the unpaid installments are re-split by the workflow's "
                                    "shares, and what was paid beyond the new total is refunded.")
                            % {"amount": order.total_amount, "currency": order.currency})


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
    list_display = ("id", "provider", "account", "provider_event_id", "event_type", "status", "signature_valid",
                    "processed", "result", "received_at")
    list_filter = ("provider", "status", "signature_valid", "processed")
    search_fields = ("provider_event_id",)


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(RecordAdmin):
    view_action = "admin.platform"  # a run spans brands
    list_display = ("day", "difference_count", "payments_checked", "refunds_checked", "unanswered", "started_at",
                    "finished_at")
    date_hierarchy = "day"


SECRET_HELP = gettext_lazy("Write-only: never shown again. Leave empty to keep the one stored.")


class PaymentAccountForm(forms.ModelForm):
    private_key = forms.CharField(
        label=gettext_lazy("private key"), required=False, strip=True,
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
        help_text=format_lazy("{} {}", gettext_lazy("PEM. Alipay: the app private key. WeChat Pay: the merchant API "
                                                   "private key (apiclient_key.pem)."), SECRET_HELP))
    apiv3_key = forms.CharField(label=gettext_lazy("APIv3 key"), required=False, strip=True,
                                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
                                help_text=format_lazy("{} {}", gettext_lazy("WeChat Pay only: 32 characters."),
                                                      SECRET_HELP))

    class Meta:
        model = PaymentAccount
        fields = ["merchant", "provider", "active", "app_id", "mch_id", "merchant_serial_no", "provider_public_key",
                  "provider_public_key_id"]

    def clean(self):
        cleaned = super().clean()
        provider = cleaned.get("provider") or self.instance.provider
        names = ["active", "app_id", "mch_id", "merchant_serial_no", "provider_public_key", "provider_public_key_id",
                 "private_key", "apiv3_key"]
        try:
            self.account_fields = account_fields_clean(
                provider, {n: cleaned.get(n) for n in names if n in cleaned},
                existing=self.instance if self.instance.pk else None)
        except DomainError as exc:
            for field, messages in exc.extra.get("errors", {}).items():
                self.add_error(field if field in self.fields else None, messages)
        return cleaned


@admin.register(PaymentAccount)
class PaymentAccountAdmin(TenantScopedAdmin):
    """A brand's account at Alipay or WeChat Pay. Saved through payments.services.payment_account_set (the
    command's path too); the private key and the APIv3 key are never shown back, only whether one is set."""

    form = PaymentAccountForm
    view_action = edit_action = "payment_account.manage"
    list_display = ("merchant", "provider", "app_id", "mch_id", "active", "private_key_status", "apiv3_key_status",
                    "updated_at")
    list_filter = ("provider", "active")
    readonly_fields = ("notify_url", "private_key_status", "apiv3_key_status", "created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        fixed = ("merchant", "provider") if obj is not None else ()
        return (*fixed, *self.readonly_fields)

    @admin.display(description=gettext_lazy("private key"))
    def private_key_status(self, obj: PaymentAccount) -> str:
        return _("set (fingerprint …%(hint)s)") % {"hint": obj.private_key_hint} if obj.private_key_encrypted \
            else _("not set")

    @admin.display(description=gettext_lazy("APIv3 key"))
    def apiv3_key_status(self, obj: PaymentAccount) -> str:
        if obj.provider != PaymentAccount.Provider.WECHATPAY:
            return "-"
        return _("set (…%(hint)s)") % {"hint": obj.apiv3_key_hint} if obj.apiv3_key_encrypted else _("not set")

    @admin.display(description=gettext_lazy("notification URL (register it at the provider)"))
    def notify_url(self, obj: PaymentAccount) -> str:
        return obj.notify_url() if obj.pk else "-"

    def save_model(self, request, obj, form, change):
        merchant = obj.merchant if obj.merchant_id else request.user.merchant
        account, _created = payment_account_set(merchant=merchant, provider=obj.provider, actor=request.user,
                                                **form.account_fields)
        obj.pk = account.pk
        obj.refresh_from_db()
