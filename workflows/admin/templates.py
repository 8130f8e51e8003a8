"""The template studio in the admin: templates with ordered stage inlines, publish and distribute, a diagram and a
payment split preview; distributions to stores. Every change goes through the services."""

from decimal import Decimal
from functools import partial

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from core import display
from core.errors import DomainError
from core.money import currencies
from tenancy.admin import TenantScopedAdmin, TenantScopedInline
from tenancy.models import Store, User
from tenancy.scoping import visible_to
from tenancy.tiers import tier_check_template
from workflows import diagrams, selectors, services
from workflows.admin import studio
from workflows.admin.store_bounds import StoreBoundsInline, save_bounds_formset
from workflows.models import (
    StageDefinition,
    TemplateDistribution,
    TemplateVersion,
    WorkflowTemplate,
)

Role = User.Role
SAMPLE_TOTAL = Decimal("10000.00")



class StageFormSet(BaseInlineFormSet):
    """Checks the merchant's tier limits on the stages as a whole, shown in the page."""

    def clean(self):
        super().clean()
        stages = [f.cleaned_data for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE", False)]
        try:
            tier_check_template(self.instance.template.merchant, stages)
        except DomainError as exc:
            raise ValidationError(exc.detail) from exc
        studio.append_new_stages(self)  # positions are never typed: a new stage goes last


class StageDefinitionInline(TenantScopedInline, admin.StackedInline):
    model = StageDefinition
    formset = StageFormSet
    extra = 0
    ordering = ["position"]
    fieldsets = (
        (None, {"fields": (("position", "code", "name"), "description")}),  # position: read-only, see Up/Down
        (
            "On site",
            {
                "fields": (
                    ("requires_appointment", "appointment_minutes", "arrival_tolerance_minutes"),
                    ("requires_voucher", "voucher_valid_days"),
                    ("min_photos", "checklist"),
                )
            },
        ),
        ("Approval", {"fields": (("requires_approval", "approval_requires_signature", "max_rework_rounds"),)}),
        ("Payment and SLA", {"fields": (("payment_share", "payment_amount", "payment_currency"),
                                        ("payment_timing", "refundable_on_cancel"), "sla_hours")}),
    )

    readonly_fields = ("position",)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "checklist":
            return studio.ChecklistField(label=db_field.verbose_name)
        if db_field.name == "payment_currency":
            return forms.ChoiceField(choices=[(c, c) for c in currencies()], initial="CNY",
                                     label=db_field.verbose_name, help_text=db_field.help_text)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def _editable(self, obj):
        return obj is None or obj.status == TemplateVersion.Status.DRAFT

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and super().has_delete_permission(request, obj)


class DistributeForm(forms.Form):
    stores = forms.ModelMultipleChoiceField(queryset=Store.objects.none(), widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, user, merchant_id, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stores"].queryset = visible_to(Store.objects.filter(merchant_id=merchant_id), user)


@admin.register(TemplateVersion)
class TemplateVersionAdmin(TenantScopedAdmin):
    class Media:
        css = {"all": ["workflows/admin.css"]}

    list_display = ("template", "number", "status", "published_at")
    list_filter = ("status",)
    inlines = [StageDefinitionInline]
    readonly_fields = (
        "template",
        "number",
        "status",
        "published_at",
        "published_by",
        "problems",
        "payment_split",
        "diagram",
    )
    fields = readonly_fields
    actions = ["publish_selected"]

    def has_add_permission(self, request):
        return False  # drafts are opened from the template page

    def get_urls(self):
        extra = [
            path(
                "<int:pk>/diagram.svg", self.admin_site.admin_view(self.diagram_view), name="workflows_version_diagram"
            ),
            path("<int:pk>/publish/", self.admin_site.admin_view(self.publish_view), name="workflows_version_publish"),
            path("<int:pk>/reorder/", self.admin_site.admin_view(partial(studio.reorder_view, self)),
                 name="workflows_version_reorder"),
            path(
                "<int:pk>/distribute/",
                self.admin_site.admin_view(self.distribute_view),
                name="workflows_version_distribute",
            ),
        ]
        return extra + super().get_urls()

    def _version(self, request, pk):
        return self.get_queryset(request).filter(pk=pk).select_related("template__merchant").first()

    def _live_counts(self, request, version):
        """Where this version's live orders sit (the viewer's orders only), and the link to each stage's orders."""
        counts = selectors.live_orders_by_stage(user=request.user, version=version)
        base = reverse("admin:workflows_serviceorder_changelist")

        def link(stage):
            return (f"{base}?template_version__id__exact={version.pk}&current_stage__definition__id__exact={stage.pk}"
                    f"&status__exact=active")

        return counts, link

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk and obj.stages.exists():
            counts, link = self._live_counts(request, obj)
            # Inline (not an <img>) so each count is a link; every text in it is escaped by flow_svg.
            context["live_flow"] = mark_safe(diagrams.svg(obj, counts=counts, link=link).decode())  # noqa: S308
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    @admin.display(description=_("Problems to fix before publishing"))
    def problems(self, obj):
        if obj.status != TemplateVersion.Status.DRAFT:
            return _("Published versions are frozen.")
        found = services.template_problems(list(obj.stages.order_by("position")),
                                           merchant_id=obj.template.merchant_id)
        if not found:
            return _("None: this draft can be published.")
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((p["message"],) for p in found)))

    @admin.display(description=_("Payment split of a sample order"))
    def payment_split(self, obj):
        paying = [s for s in obj.stages.order_by("position") if s.carries_payment]
        shares = [s.payment_share for s in paying if s.payment_share is not None]
        if not shares or sum(shares) != 100:
            return _("Shares must add up to 100%% for a split.") % {}
        currency = next((s.payment_currency for s in paying if s.payment_amount is not None), "CNY").upper()
        try:
            split = services.template_split(obj, SAMPLE_TOTAL, currency)
        except DomainError as exc:  # fixed amounts above the sample total, or in several currencies
            return exc.detail

        def part(s):
            return display.money(s.payment_amount, currency) if s.payment_amount is not None else f"{s.payment_share}%"

        return format_html(
            "<p>{}</p><table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{}</table>",
            _("A total of %(total)s: fixed amounts first, the shares split the rest.")
            % {"total": display.money(SAMPLE_TOTAL, currency)},
            _("Stage"), _("Share or fixed amount"), _("When"), _("Amount"),
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                ((s.name, part(s), s.get_payment_timing_display(), display.money(a, currency)) for s, a in split),
            ),
        )

    @admin.display(description=_("Workflow diagram"))
    def diagram(self, obj):
        if not obj.pk or not obj.stages.exists():
            return "-"
        url = reverse("admin:workflows_version_diagram", args=[obj.pk])
        actions = ""
        if obj.status == TemplateVersion.Status.DRAFT:
            actions = format_html(
                '<p><a class="button" href="{}">{}</a> <a class="button" href="{}" '
                'data-testid="reorder">{}</a></p>',
                reverse("admin:workflows_version_publish", args=[obj.pk]), _("Publish this draft"),
                reverse("admin:workflows_version_reorder", args=[obj.pk]), _("Order of the stages"),
            )
        else:
            actions = format_html(
                '<p><a class="button" href="{}">{}</a></p>',
                reverse("admin:workflows_version_distribute", args=[obj.pk]), _("Distribute to stores"),
            )
        # The picture itself is drawn below the fields, with the live orders (render_change_form).
        return format_html('{}<p><a href="{}">{}</a></p>', actions, url, _("The diagram as an SVG file"))

    def diagram_view(self, request, pk):
        version = self._version(request, pk)
        if version is None:
            return HttpResponse(status=404)
        counts, link = self._live_counts(request, version)
        return HttpResponse(diagrams.svg(version, counts=counts, link=link), content_type="image/svg+xml")

    def _publish(self, request, version) -> bool:
        try:
            published = services.template_publish(template=version.template, actor=request.user)
        except DomainError as exc:
            for problem in exc.extra.get("problems", []) or [{"message": exc.detail}]:
                self.message_user(request, problem["message"], messages.ERROR)
            return False
        self.message_user(request, _("Published %(version)s.") % {"version": published}, messages.SUCCESS)
        return True

    def publish_view(self, request, pk):
        version = self._version(request, pk)
        if version is None or not self.has_change_permission(request, version):
            return HttpResponse(status=404)
        if request.method == "POST":
            ok = self._publish(request, version)
            return redirect(
                reverse("admin:workflows_templateversion_change", args=[pk])
                if not ok
                else reverse("admin:workflows_version_distribute", args=[pk])
            )
        return render(
            request,
            "admin/workflows/confirm.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Publish {version}?",
                "version": version,
                "button": _("Publish"),
                "opts": self.model._meta,
            },
        )

    def distribute_view(self, request, pk):
        version = self._version(request, pk)
        if version is None or not self.has_change_permission(request, version):
            return HttpResponse(status=404)
        form = DistributeForm(request.POST or None, user=request.user, merchant_id=version.template.merchant_id)
        if request.method == "POST" and form.is_valid():
            try:
                services.template_distribute(
                    template=version.template,
                    stores=list(form.cleaned_data["stores"]),
                    actor=request.user,
                    version=version,
                )
            except DomainError as exc:
                self.message_user(request, exc.detail, messages.ERROR)
            else:
                told = _("%(version)s is now available to the chosen stores.") % {"version": version}
                self.message_user(request, told, messages.SUCCESS)
                return redirect(reverse("admin:workflows_workflowtemplate_change", args=[version.template_id]))
        return render(
            request,
            "admin/workflows/distribute.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Distribute {version}",
                "form": form,
                "version": version,
                "opts": self.model._meta,
            },
        )

    @admin.action(description=_("Publish the selected drafts"))
    def publish_selected(self, request, queryset):
        for version in queryset.filter(status=TemplateVersion.Status.DRAFT).select_related("template"):
            self._publish(request, version)


class VersionInline(TenantScopedInline, admin.TabularInline):
    model = TemplateVersion
    extra = 0
    fields = ("number", "status", "published_at", "open")
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="")
    def open(self, obj):
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:workflows_templateversion_change", args=[obj.pk]),
            "Edit stages" if obj.status == TemplateVersion.Status.DRAFT else "View",
        )


class DistributionInline(TenantScopedInline, admin.TabularInline):
    model = TemplateDistribution
    extra = 0
    fields = ("store", "version", "distributed_at")
    readonly_fields = fields
    edit_action = "admin.platform"
    show_change_link = True


@admin.register(WorkflowTemplate)
class WorkflowTemplateAdmin(TenantScopedAdmin):
    list_display = ("name", "merchant", "updated_at")
    search_fields = ("name",)
    inlines = [VersionInline, StoreBoundsInline, DistributionInline]
    actions = ["open_draft"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            services.template_draft(obj)

    def save_formset(self, request, form, formset, change):
        if not save_bounds_formset(request, form, formset, change):
            super().save_formset(request, form, formset, change)

    @admin.action(description=_("Open a draft (a new version to edit)"))
    def open_draft(self, request, queryset):
        for template in queryset:
            draft = services.template_draft(template)
            if queryset.count() == 1:
                return redirect(reverse("admin:workflows_templateversion_change", args=[draft.pk]))
        return None
