"""The template studio's editing aids: stages reordered with Up and Down buttons (never by typing positions; a new
stage goes last), and a stage's checklist edited as rows of text, one item per row (never as raw JSON)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Max
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from workflows import services
from workflows.admin.common import run_action
from workflows.models import TemplateVersion

MAX_CHECKLIST_ITEMS, MAX_ITEM_LENGTH = 50, 200


class ChecklistWidget(forms.Textarea):
    def format_value(self, value):
        if isinstance(value, list | tuple):
            return "\n".join(str(v) for v in value)
        return super().format_value(value)


class ChecklistField(forms.Field):
    """The checklist as rows: one item a line; blank lines are dropped, duplicates refused."""

    widget = ChecklistWidget(attrs={"rows": 4, "cols": 40})

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", gettext_lazy("One item the technician ticks off per line."))
        kwargs.pop("encoder", None)
        kwargs.pop("decoder", None)
        kwargs.pop("max_length", None)
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        if isinstance(value, list):
            return value
        return [line.strip() for line in str(value or "").splitlines() if line.strip()]

    def validate(self, value):
        super().validate(value)
        if len(value) > MAX_CHECKLIST_ITEMS:
            raise ValidationError(_("At most %(n)s items.") % {"n": MAX_CHECKLIST_ITEMS})
        if any(len(item) > MAX_ITEM_LENGTH for item in value):
            raise ValidationError(_("Each item at most %(n)s characters.") % {"n": MAX_ITEM_LENGTH})
        if len(set(value)) != len(value):
            raise ValidationError(_("Each item once."))

    def has_changed(self, initial, data):
        return (initial or []) != self.to_python(data)


def append_new_stages(formset) -> None:
    """Give each new stage of the formset the next free position (after every stage the draft has)."""
    last = formset.instance.stages.aggregate(m=Max("position"))["m"] or 0
    for form in formset.extra_forms:
        if form.has_changed() and not form.cleaned_data.get("DELETE") and not form.instance.position:
            last += 1
            form.instance.position = last


def reorder_view(model_admin, request, pk):
    """The draft's stages in order, each with Up and Down buttons (one click moves it one place)."""
    version = model_admin._version(request, pk)
    if version is None:
        raise Http404
    back = reverse("admin:workflows_version_reorder", args=[version.pk])
    if request.method == "POST":
        for key, offset in (("up", -1), ("down", 1)):
            if request.POST.get(key, "").isdigit():
                run_action(request, action="template.author", success=_("The stage moved."),
                           do=lambda k=key, o=offset: services.template_stage_move(
                               version=version, stage_id=int(request.POST[k]), offset=o, actor=request.user))
        return redirect(back)
    return render(request, "admin/workflows/reorder.html", {
        **model_admin.admin_site.each_context(request), "opts": TemplateVersion._meta, "version": version,
        "title": _("Order of the stages"), "stages": list(version.stages.order_by("position")),
        "editable": version.status == TemplateVersion.Status.DRAFT,
        "back_url": reverse("admin:workflows_templateversion_change", args=[version.pk]),
    })
