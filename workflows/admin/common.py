"""What every admin action on an order shares, whichever app owns it (workflows, payments, vouchers): the
order found through the viewer's scope (404 otherwise), the policy asked as the API asks it, the service's
refusal shown as an admin message (never a 500), and one confirmation page."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from core.errors import DomainError
from tenancy import policy
from tenancy.scoping import visible_to
from workflows.models import ServiceOrder


def visible_or_404(queryset, user, pk):
    """The row of `queryset` the user may see, else 404 (a row of another tenant or store is absent)."""
    row = visible_to(queryset, user).filter(pk=pk).first()
    if row is None:
        raise Http404
    return row


def order_page_url(order_id: int) -> str:
    return reverse("admin:workflows_serviceorder_change", args=[order_id])


def staff_may(request, action: str) -> bool:
    """Whether the signed-in staff member may take `action` in the admin: the admin's order work
    (admin.manage_orders) and the action itself, as the API asks it."""
    user = request.user
    return (user.is_active and user.is_staff and policy.may(user, "admin.manage_orders")
            and policy.may(user, action))


def run_action(request, *, action: str, do: Callable[[], object], success: str) -> bool:
    """Ask the policy, call the service, and tell the outcome as an admin message. True when it worked."""
    if not staff_may(request, action):
        messages.error(request, _("Your role may not do this."))
        return False
    try:
        do()
    except DomainError as exc:
        detail = exc.detail
        errors = exc.extra.get("errors")
        if isinstance(errors, dict):  # field errors say what was wrong with which value
            detail = " ".join([str(detail), *(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}"
                                              for k, v in errors.items())])
        messages.error(request, detail)
        return False
    messages.success(request, success)
    return True


def confirm_page(request, admin_site, *, title: str, form, order: ServiceOrder | None, intro: str,
                 submit: str, multipart: bool = False, danger: bool = False,
                 template: str = "admin/workflows/action.html"):
    """The confirmation page of an action: what it will do, its form, and one button. An app's own `template`
    extends admin/workflows/action.html (its blocks: extrahead, after_fields)."""
    return render(request, template, {
        **admin_site.each_context(request),
        "title": title, "form": form, "order": order, "intro": intro, "submit": submit,
        "multipart": multipart, "danger": danger, "opts": ServiceOrder._meta,
        "back_url": order_page_url(order.pk) if order is not None else reverse("admin:index"),
    })


def back_to_order(order_id: int):
    return redirect(order_page_url(order_id))
