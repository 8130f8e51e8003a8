"""The order page's buttons: each a confirmation page whose form calls the same service as the API, under
the same policy action (workflows.admin.common.run_action). The order, stage or visit is looked up through
the viewer's scope first: one they may not see is a 404."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.http import Http404
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tenancy.models import Store, User
from tenancy.scoping import visible_to
from workflows import services
from workflows.admin.common import back_to_order, confirm_page, order_page_url, run_action, staff_may, visible_or_404
from workflows.models import Appointment, ServiceOrder, StageInstance, WorkflowTemplate

Role = User.Role


class CancelForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), widget=forms.Textarea(attrs={"rows": 3}),
                             max_length=2000)


class NoteForm(forms.Form):
    note = forms.CharField(label=gettext_lazy("Note"), widget=forms.Textarea(attrs={"rows": 3}), max_length=2000,
                           required=False)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data]
        return [single(data, initial)] if data else []


class SubmitForm(forms.Form):
    notes = forms.CharField(label=gettext_lazy("Notes"), widget=forms.Textarea(attrs={"rows": 4}), max_length=5000,
                            required=False)
    files = MultipleFileField(label=gettext_lazy("Files (PDF, JPEG, PNG or WebP)"), required=False)


class TechnicianForm(forms.Form):
    technician = forms.ModelChoiceField(label=gettext_lazy("Technician"), queryset=User.objects.none())

    def __init__(self, *args, store_id: int, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["technician"].queryset = visible_to(
            User.objects.filter(role=Role.TECHNICIAN, is_active=True, stores=store_id), user
        ).order_by("first_name", "username")


class SlotForm(forms.Form):
    window_start = forms.ChoiceField(label=gettext_lazy("Time"))

    def __init__(self, *args, slots, tz, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["window_start"].choices = [
            (s.start.isoformat(), date_format(timezone.localtime(s.start, tz), "Y-m-d H:i")) for s in slots
        ]

    def start(self):
        return timezone.datetime.fromisoformat(self.cleaned_data["window_start"])


class OrderCreateForm(forms.Form):
    store = forms.ModelChoiceField(label=gettext_lazy("Store"), queryset=Store.objects.none())
    template = forms.ModelChoiceField(label=gettext_lazy("Workflow template"), queryset=WorkflowTemplate.objects.none())
    phone = forms.CharField(label=gettext_lazy("Consumer's phone"), max_length=32)
    name = forms.CharField(label=gettext_lazy("Consumer's name"), max_length=150, required=False)
    total_amount = forms.DecimalField(label=gettext_lazy("Total price"), max_digits=14, decimal_places=2,
                                      min_value=Decimal("0.01"))
    currency = forms.CharField(label=gettext_lazy("Currency"), max_length=3, initial="CNY")
    service_address = forms.CharField(label=gettext_lazy("Service address"), max_length=300)
    latitude = forms.DecimalField(label=gettext_lazy("Latitude"), max_digits=9, decimal_places=6, min_value=-90,
                                  max_value=90)
    longitude = forms.DecimalField(label=gettext_lazy("Longitude"), max_digits=9, decimal_places=6,
                                   min_value=-180, max_value=180)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = visible_to(Store.objects.all(), user).order_by("name")
        self.fields["template"].queryset = visible_to(WorkflowTemplate.objects.all(), user).order_by("name")


def _order(request, admin, pk) -> ServiceOrder:
    return visible_or_404(ServiceOrder.objects.select_related("store"), request.user, pk)


def _stage(request, order_pk, stage_pk) -> StageInstance:
    order_ids = visible_to(ServiceOrder.objects.filter(pk=order_pk), request.user).values("pk")
    stage = StageInstance.objects.select_related("definition", "order__store", "order__template_version").filter(
        pk=stage_pk, order_id__in=order_ids).first()
    if stage is None:
        raise Http404
    return stage


def _visit(request, order_pk, visit_pk) -> Appointment:
    visit = visible_to(Appointment.objects.select_related("order__store", "stage__definition"), request.user).filter(
        pk=visit_pk, order_id=order_pk).first()
    if visit is None:
        raise Http404
    return visit


def _guard(request, action: str):
    """A role that may not take the action never sees its page (the button is hidden too): 403 as a message."""
    if not staff_may(request, action):
        run_action(request, action=action, do=lambda: None, success="")
        return True
    return False


def cancel_view(admin, request, pk):
    order = _order(request, admin, pk)
    if _guard(request, "cancel"):
        return back_to_order(order.pk)
    form = CancelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        run_action(request, action="cancel", success=_("Order %(number)s cancelled.") % {"number": order.number},
                   do=lambda: services.order_cancel(order=order, actor=request.user,
                                                    reason=form.cleaned_data["reason"]))
        return back_to_order(order.pk)
    return confirm_page(request, admin.admin_site, title=_("Cancel order %(number)s") % {"number": order.number},
                        form=form, order=order, danger=True, submit=_("Cancel the order"),
                        intro=_("Cancelling refunds what the workflow's rule says and revokes the open e-vouchers."))


def resume_view(admin, request, pk, stage_pk):
    stage = _stage(request, pk, stage_pk)
    if _guard(request, "resume"):
        return back_to_order(pk)
    form = NoteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        run_action(request, action="resume", success=_("The stage was resumed."),
                   do=lambda: services.stage_resume(stage=stage, actor=request.user, note=form.cleaned_data["note"]))
        return back_to_order(pk)
    return confirm_page(request, admin.admin_site, title=_("Resume %(stage)s") % {"stage": stage.definition.name},
                        form=form, order=stage.order, submit=_("Resume the stage"),
                        intro=_("The consumer rejected the work too many times; resuming lets the work go on."))


def start_view(admin, request, pk, stage_pk):
    stage = _stage(request, pk, stage_pk)
    if _guard(request, "stage.start_offsite"):
        return back_to_order(pk)
    form = forms.Form(request.POST or None)
    if request.method == "POST" and form.is_valid():
        run_action(request, action="stage.start_offsite", success=_("Work on the stage began."),
                   do=lambda: services.stage_start(stage=stage, actor=request.user))
        return back_to_order(pk)
    return confirm_page(request, admin.admin_site, title=_("Start %(stage)s") % {"stage": stage.definition.name},
                        form=form, order=stage.order, submit=_("Start the work"),
                        intro=_("The stage's work begins now."))


def submit_view(admin, request, pk, stage_pk):
    stage = _stage(request, pk, stage_pk)
    if _guard(request, "stage.submit"):
        return back_to_order(pk)
    form = SubmitForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        run_action(request, action="stage.submit", success=_("The work was delivered to the consumer."),
                   do=lambda: services.stage_submit(stage=stage, actor=request.user, notes=form.cleaned_data["notes"],
                                                    files=form.cleaned_data["files"]))
        return back_to_order(pk)
    return confirm_page(request, admin.admin_site, title=_("Deliver %(stage)s") % {"stage": stage.definition.name},
                        form=form, order=stage.order, multipart=True, submit=_("Deliver the work"),
                        intro=_("The consumer is asked to approve the work (or reject it with a reason)."))


def book_view(admin, request, pk, stage_pk):
    stage = _stage(request, pk, stage_pk)
    if _guard(request, "book"):
        return back_to_order(pk)
    form = SlotForm(request.POST or None, slots=services.appointment_slots(stage=stage), tz=stage.order.store.tzinfo)
    if request.method == "POST" and form.is_valid():
        run_action(request, action="book", success=_("The visit was booked."),
                   do=lambda: services.appointment_book(stage=stage, window_start=form.start(), actor=request.user))
        return back_to_order(pk)
    return confirm_page(request, admin.admin_site, title=_("Book %(stage)s") % {"stage": stage.definition.name},
                        form=form, order=stage.order, submit=_("Book the visit"),
                        intro=_("A free technician of the store gets the visit; you can reassign it after."))


def assign_view(admin, request, pk, visit_pk):
    visit = _visit(request, pk, visit_pk)
    if _guard(request, "appointment.assign"):
        return back_to_order(pk)
    form = TechnicianForm(request.POST or None, store_id=visit.store_id, user=request.user,
                          initial={"technician": visit.technician_id})
    if request.method == "POST" and form.is_valid():
        technician = form.cleaned_data["technician"]
        run_action(request, action="appointment.assign", success=_("The visit was given to %(name)s.") % {
            "name": technician.display_name},
            do=lambda: services.appointment_assign(appointment=visit, technician=technician, actor=request.user))
        return back_to_order(pk)
    return confirm_page(request, admin.admin_site, title=_("Assign the visit"), form=form, order=visit.order,
                        submit=_("Assign"), intro=_("The technician sees the visit in today's jobs."))


def move_view(admin, request, pk, visit_pk):
    visit = _visit(request, pk, visit_pk)
    if _guard(request, "reschedule"):
        return back_to_order(pk)
    form = SlotForm(request.POST or None, slots=services.appointment_slots(stage=visit.stage),
                    tz=visit.order.store.tzinfo)
    if request.method == "POST" and form.is_valid():
        run_action(request, action="reschedule", success=_("The visit was moved."),
                   do=lambda: services.appointment_reschedule(appointment=visit, window_start=form.start(),
                                                              actor=request.user))
        return back_to_order(pk)
    return confirm_page(request, admin.admin_site, title=_("Move the visit"), form=form, order=visit.order,
                        submit=_("Move the visit"), intro=_("The consumer is told of the new time."))


def create_view(admin, request):
    if _guard(request, "order.create"):
        return redirect("admin:workflows_serviceorder_changelist")
    form = OrderCreateForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        v = form.cleaned_data
        made = []

        def create():
            made.append(services.order_create_for_contact(
                contact={"phone": v["phone"], "name": v["name"]}, template=v["template"], store=v["store"],
                total_amount=v["total_amount"], currency=v["currency"].upper(), service_address=v["service_address"],
                latitude=v["latitude"], longitude=v["longitude"], actor=request.user))

        if run_action(request, action="order.create", do=create, success=_("The order was created.")):
            return redirect(order_page_url(made[0].order.pk))
    return confirm_page(request, admin.admin_site, title=_("New service order"), form=form, order=None,
                        submit=_("Create the order"),
                        intro=_("The consumer is found by phone, or gets an account; they are sent the tracking link."))
