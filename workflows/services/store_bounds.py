"""What stores may change (二次开发, bounded): the brand's bounds per template, and each store's values within
them. One place judges both, for the admin and the API alike; a refusal names the bound it went past."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from core.errors import DomainError
from tenancy.tiers import tier_require
from workflows.models import StoreBounds, TemplateDistribution, WorkflowTemplate
from workflows.store_values import (
    APPOINTMENT_MINUTES_RANGE,
    CHECKLIST_ITEM_LENGTH,
    CHECKLIST_MAX_ITEMS,
    REMINDER_HOURS_RANGE,
)

BOUND_FIELDS = ("appointment_open", "appointment_min_minutes", "appointment_max_minutes", "sla_open",
                "reminder_open", "reminder_min_hours", "reminder_max_hours", "checklist_open", "checklist_max_items")
OPEN_FIELDS = ("appointment_open", "sla_open", "reminder_open", "checklist_open")
OVERRIDE_FIELDS = ("appointment_minutes", "sla_hours", "reminder_lead_hours", "extra_checklist")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def store_bounds_of(template: WorkflowTemplate) -> StoreBounds:
    """The template's bounds (every knob closed when the brand never opened one); not saved."""
    bounds = StoreBounds.objects.filter(template=template).first()
    return bounds or StoreBounds(template=template)


def store_bounds_problems(values: dict) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    low, high = APPOINTMENT_MINUTES_RANGE
    a_min, a_max = values["appointment_min_minutes"], values["appointment_max_minutes"]
    if not (low <= a_min <= a_max <= high):
        problems["appointment_min_minutes"] = [
            _("Appointment bounds must be %(low)s to %(high)s minutes, the shortest no longer than the longest.")
            % {"low": low, "high": high}]
    low, high = REMINDER_HOURS_RANGE
    if not (low <= values["reminder_min_hours"] <= values["reminder_max_hours"] <= high):
        problems["reminder_min_hours"] = [
            _("Reminder bounds must be %(low)s to %(high)s hours, the shortest no longer than the longest.")
            % {"low": low, "high": high}]
    if not 1 <= values["checklist_max_items"] <= CHECKLIST_MAX_ITEMS:
        problems["checklist_max_items"] = [
            _("A store may add 1 to %(most)s checklist items per stage.") % {"most": CHECKLIST_MAX_ITEMS}]
    return problems


@transaction.atomic
def store_bounds_set(*, template: WorkflowTemplate, actor=None, **values) -> StoreBounds:
    """The brand's choice of knobs and bounds for its stores. Opening a knob needs a tier with store overrides;
    closing them all is always allowed."""
    WorkflowTemplate.objects.select_for_update().filter(pk=template.pk).first()
    bounds = StoreBounds.objects.filter(template=template).first() or StoreBounds(template=template)
    merged = {f: values.get(f, getattr(bounds, f)) for f in BOUND_FIELDS}
    if any(merged[f] for f in OPEN_FIELDS):
        tier_require(template.merchant, "store_overrides")
    problems = store_bounds_problems(merged)
    if problems:
        raise DomainError(" ".join(p for ps in problems.values() for p in ps), code="invalid", errors=problems)
    for name, value in merged.items():
        setattr(bounds, name, value)
    bounds.save()
    return bounds


def _closed(problems: dict, key: str) -> None:
    problems.setdefault(key, []).append(_("Your brand does not let its stores change this in this workflow."))


def store_overrides_problems(*, distribution: TemplateDistribution, bounds: StoreBounds, values: dict
                             ) -> dict[str, list[str]]:
    """Why these store values cannot be saved, by field (empty when they can). Each message names the bound."""
    problems: dict[str, list[str]] = {}
    stages = {s.code: s for s in distribution.version.stages.all()}

    def add(key, message):
        problems.setdefault(key, []).append(message)

    def stage_named(key, code, wanted):
        stage = stages.get(code)
        if stage is None or not wanted(stage):
            add(key, _("No stage '%(code)s' this can be set for in this workflow.") % {"code": code})
            return None
        return stage

    minutes = values.get("appointment_minutes") or {}
    if minutes and not bounds.appointment_open:
        _closed(problems, "appointment_minutes")
    elif not isinstance(minutes, dict):
        add("appointment_minutes", _("Give the lengths as {stage code: minutes}."))
    else:
        for code, value in minutes.items():
            stage = stage_named("appointment_minutes", code, lambda s: s.requires_appointment)
            if stage and not (_is_int(value) and bounds.appointment_min_minutes <= value
                              <= bounds.appointment_max_minutes):
                add("appointment_minutes", _("Appointment length for '%(stage)s' must be %(min)s to %(max)s "
                                             "minutes (your brand's bounds).")
                    % {"stage": stage.name, "min": bounds.appointment_min_minutes,
                       "max": bounds.appointment_max_minutes})
    sla = values.get("sla_hours") or {}
    if sla and not bounds.sla_open:
        _closed(problems, "sla_hours")
    elif not isinstance(sla, dict):
        add("sla_hours", _("Give the SLA hours as {stage code: hours}."))
    else:
        for code, value in sla.items():
            stage = stage_named("sla_hours", code, lambda s: bool(s.sla_hours))
            if stage and not (_is_int(value) and 1 <= value <= stage.sla_hours):
                add("sla_hours", _("SLA for '%(stage)s' may only be tightened: 1 to %(max)s hours (the "
                                   "template's).") % {"stage": stage.name, "max": stage.sla_hours})
    lead = values.get("reminder_lead_hours")
    if lead is not None and not bounds.reminder_open:
        _closed(problems, "reminder_lead_hours")
    elif lead is not None and not (_is_int(lead) and bounds.reminder_min_hours <= lead <= bounds.reminder_max_hours):
        add("reminder_lead_hours", _("The reminder lead time must be %(min)s to %(max)s hours (your brand's "
                                     "bounds).") % {"min": bounds.reminder_min_hours, "max": bounds.reminder_max_hours})
    extra = values.get("extra_checklist") or {}
    if extra and not bounds.checklist_open:
        _closed(problems, "extra_checklist")
    elif not isinstance(extra, dict):
        add("extra_checklist", _("Give the items as {stage code: [items]}."))
    else:
        for code, items in extra.items():
            stage = stage_named("extra_checklist", code, lambda s: s.requires_appointment)
            if stage is None:
                continue
            if not isinstance(items, list) or not all(
                    isinstance(i, str) and i.strip() and len(i) <= CHECKLIST_ITEM_LENGTH for i in items):
                add("extra_checklist", _("Checklist items for '%(stage)s' must be texts of 1 to %(most)s "
                                         "characters.") % {"stage": stage.name, "most": CHECKLIST_ITEM_LENGTH})
            elif len(items) > bounds.checklist_max_items:
                add("extra_checklist", _("At most %(most)s extra checklist items for '%(stage)s' (your brand's "
                                         "bounds).") % {"stage": stage.name, "most": bounds.checklist_max_items})
            elif len({i.strip() for i in items} | set(stage.checklist or [])) != len(items) + len(
                    set(stage.checklist or [])):
                add("extra_checklist", _("Checklist items for '%(stage)s' repeat an item.") % {"stage": stage.name})
    return problems


@transaction.atomic
def store_overrides_set(*, distribution: TemplateDistribution, actor=None, appointment_minutes=None,
                        sla_hours=None, reminder_lead_hours=None, extra_checklist=None) -> TemplateDistribution:
    """A store's own values for its distribution of a template, all at once (what is not given is cleared),
    within its brand's bounds. Payment shares are never the store's."""
    distribution = (TemplateDistribution.objects.select_for_update(of=("self",))
                    .select_related("template__merchant", "version").get(pk=distribution.pk))
    tier_require(distribution.template.merchant, "store_overrides")
    values = {"appointment_minutes": appointment_minutes or {}, "sla_hours": sla_hours or {},
              "reminder_lead_hours": reminder_lead_hours, "extra_checklist": extra_checklist or {}}
    problems = store_overrides_problems(distribution=distribution, bounds=store_bounds_of(distribution.template),
                                        values=values)
    if problems:
        raise DomainError(" ".join(p for ps in problems.values() for p in ps), code="invalid", errors=problems)
    distribution.appointment_minutes_overrides = dict(values["appointment_minutes"])
    distribution.sla_hours_overrides = dict(values["sla_hours"])
    distribution.reminder_lead_hours = reminder_lead_hours
    distribution.extra_checklist = {c: [i.strip() for i in items] for c, items in values["extra_checklist"].items()
                                    if items}
    distribution.save(update_fields=["appointment_minutes_overrides", "sla_hours_overrides", "reminder_lead_hours",
                                     "extra_checklist"])
    return distribution


def store_overrides_of(distribution: TemplateDistribution) -> dict:
    """The store's saved values, as the API gives and takes them."""
    return {"appointment_minutes": distribution.appointment_minutes_overrides or {},
            "sla_hours": distribution.sla_hours_overrides or {},
            "reminder_lead_hours": distribution.reminder_lead_hours,
            "extra_checklist": distribution.extra_checklist or {}}
