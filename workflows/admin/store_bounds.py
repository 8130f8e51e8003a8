"""What stores may change, in the admin (二次开发, bounded): the brand ticks the knobs its stores may turn and
sets their bounds on the template's page; a store manager sets the store's values on its distribution's page,
as plain fields (never raw JSON). Both forms ask the services in workflows.services.store_bounds, so a value past
a bound is refused with the bound in the message, in the field it belongs to."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from tenancy.admin import TenantScopedAdmin, TenantScopedInline
from tenancy.tiers import tier_allows, tier_require
from workflows import services
from workflows.models import StoreBounds, TemplateDistribution
from workflows.services.store_bounds import BOUND_FIELDS, OPEN_FIELDS


class StoreBoundsForm(forms.ModelForm):
    class Meta:
        model = StoreBounds
        fields = list(BOUND_FIELDS)

    def clean(self):
        cleaned = super().clean()
        if any(f not in cleaned for f in BOUND_FIELDS):
            return cleaned  # a field's own error is shown already
        if any(cleaned[f] for f in OPEN_FIELDS):
            try:
                tier_require(self.instance.template.merchant, "store_overrides")
            except DomainError as error:
                raise ValidationError(str(error.detail)) from None
        for name, problems in services.store_bounds.store_bounds_problems(cleaned).items():
            self.add_error(name, problems)
        return cleaned


class StoreBoundsInline(TenantScopedInline, admin.StackedInline):
    """On the template's page: what its stores may change (the merchant's admin decides)."""

    model = StoreBounds
    form = StoreBoundsForm
    extra = 1
    max_num = 1
    can_delete = False
    verbose_name = _("what stores may change")
    verbose_name_plural = _("what stores may change")
    fieldsets = (
        (None, {"fields": (("appointment_open", "appointment_min_minutes", "appointment_max_minutes"),
                           "sla_open", ("reminder_open", "reminder_min_hours", "reminder_max_hours"),
                           ("checklist_open", "checklist_max_items")),
                "description": _("Stores may only tighten SLA hours (at most the template's hours per stage). "
                                 "Payment shares are never the stores'.")}),
    )


def save_bounds_formset(request, form, formset, change) -> bool:
    """Save the bounds inline through the service; False when `formset` is another inline's."""
    if formset.model is not StoreBounds:
        return False
    formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []  # for the admin's history
    for f in formset.forms:
        if f.has_changed():
            new = f.instance.pk is None
            bounds = services.store_bounds_set(template=form.instance, actor=request.user,
                                               **{k: f.cleaned_data[k] for k in BOUND_FIELDS})
            if new:
                formset.new_objects.append(bounds)
            else:
                formset.changed_objects.append((bounds, f.changed_data))
    return True


def _field_names(dist: TemplateDistribution, bounds: StoreBounds) -> list[tuple[str, str, object]]:
    """(form field name, knob, stage or None) for each knob the brand opened, per stage where it applies."""
    stages = list(dist.version.stages.order_by("position"))
    names = []
    if bounds.appointment_open:
        names += [(f"appointment_minutes__{s.code}", "appointment_minutes", s) for s in stages
                  if s.requires_appointment]
    if bounds.sla_open:
        names += [(f"sla_hours__{s.code}", "sla_hours", s) for s in stages if s.sla_hours]
    if bounds.checklist_open:
        names += [(f"extra_checklist__{s.code}", "extra_checklist", s) for s in stages if s.requires_appointment]
    if bounds.reminder_open:
        names.append(("reminder_lead_hours", "reminder_lead_hours", None))
    return names


def _field(dist: TemplateDistribution, bounds: StoreBounds, knob: str, stage):
    if knob == "appointment_minutes":
        return forms.IntegerField(
            required=False, min_value=0, label=_("Appointment length of '%(stage)s' (minutes)") % {"stage": stage.name},
            initial=(dist.appointment_minutes_overrides or {}).get(stage.code),
            help_text=_("Empty: the template's %(own)s. Your brand allows %(min)s to %(max)s.")
            % {"own": stage.appointment_minutes, "min": bounds.appointment_min_minutes,
               "max": bounds.appointment_max_minutes})
    if knob == "sla_hours":
        return forms.IntegerField(
            required=False, min_value=0, label=_("SLA of '%(stage)s' (hours)") % {"stage": stage.name},
            initial=(dist.sla_hours_overrides or {}).get(stage.code),
            help_text=_("Empty: the template's %(own)s. Tighter only: at most %(own)s.") % {"own": stage.sla_hours})
    if knob == "extra_checklist":
        return forms.CharField(
            required=False, widget=forms.Textarea(attrs={"rows": 3}),
            label=_("Checklist items your store adds to '%(stage)s'") % {"stage": stage.name},
            initial="\n".join((dist.extra_checklist or {}).get(stage.code, [])),
            help_text=_("One item a line, at most %(most)s; they come after the template's items.")
            % {"most": bounds.checklist_max_items})
    return forms.IntegerField(
        required=False, min_value=0, label=_("Reminder lead time (hours)"), initial=dist.reminder_lead_hours,
        help_text=_("How long before a visit the consumer is reminded. Empty: 24 hours. Your brand allows %(min)s "
                    "to %(max)s.") % {"min": bounds.reminder_min_hours, "max": bounds.reminder_max_hours})


class StoreValuesForm(forms.ModelForm):
    """The store's values, one field per open knob and stage; built per distribution by `values_form_for`."""

    knobs: list = []
    bounds: StoreBounds | None = None

    class Meta:
        model = TemplateDistribution
        fields: list = []

    def clean(self):
        cleaned = super().clean()
        values = {"appointment_minutes": {}, "sla_hours": {}, "reminder_lead_hours": None, "extra_checklist": {}}
        for name, knob, stage in self.knobs:
            value = cleaned.get(name)
            if value in (None, ""):
                continue
            if knob == "extra_checklist":
                value = [line.strip() for line in value.splitlines() if line.strip()]
            one = {knob: value} if stage is None else {knob: {stage.code: value}}
            problems = services.store_overrides_problems(distribution=self.instance, bounds=self.bounds, values=one)
            for messages in problems.values():
                self.add_error(name, messages)
            if stage is None:
                values[knob] = value
            else:
                values[knob][stage.code] = value
        self.values = values
        return cleaned


def values_form_for(dist: TemplateDistribution | None):
    if dist is None:
        return StoreValuesForm
    bounds = services.store_bounds_of(dist.template)
    knobs = _field_names(dist, bounds) if tier_allows(dist.template.merchant, "store_overrides") else []
    attrs = {name: _field(dist, bounds, knob, stage) for name, knob, stage in knobs}
    return type("StoreValuesFormFor", (StoreValuesForm,), {**attrs, "knobs": knobs, "bounds": bounds})


@admin.register(TemplateDistribution)
class TemplateDistributionAdmin(TenantScopedAdmin):
    """Where a store sets its own values for a template, within what its brand opened (growth tier and up)."""

    list_display = ("template", "version", "store", "distributed_at")
    list_filter = ("store",)
    readonly_fields = ("template", "version", "store", "distributed_at", "what_the_brand_allows")
    edit_action = "admin.manage_orders"

    def has_add_permission(self, request):
        return False  # distributions are made by the publish/distribute action

    def has_delete_permission(self, request, obj=None):
        return False

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = values_form_for(obj)
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        own = [name for name, _knob, _stage in values_form_for(obj).knobs]
        sets = [(None, {"fields": ("template", "version", "store", "distributed_at", "what_the_brand_allows")})]
        if own:
            sets.append((_("Your store's values"), {"fields": own}))
        return sets

    @admin.display(description=_("What your brand lets stores change"))
    def what_the_brand_allows(self, obj):
        if not tier_allows(obj.template.merchant, "store_overrides"):
            return _("Your brand's tier does not include store-level adjustments.")
        if not values_form_for(obj).knobs:
            return _("Nothing in this workflow: your brand has not opened any knob to its stores.")
        return format_html("{}", _("Set your values below, within the bounds shown under each field."))

    def save_model(self, request, obj, form, change):
        if form.knobs:
            services.store_overrides_set(distribution=obj, actor=request.user, **form.values)
