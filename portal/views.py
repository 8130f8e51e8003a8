"""The consumer's tracking page: `/track/<token>/`, opened from a signed link without logging in.

The link alone shows everything (read-only). Paying needs nothing more: the Pay button posts to
`/track/<token>/pay/<installment>/`, which starts a payment through the payments app's service and redirects
to the provider's checkout with a return link to this page. Every other action (portal/acts.py) needs a
device session opened with an SMS code. Files the store submitted and the technicians' photos are served
from here too, to whoever holds the link.
"""

from __future__ import annotations

import io
import logging
from urllib.parse import urlencode, urlsplit

from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_GET, require_POST

from core.errors import DomainError, NotFound
from core.files import stored_file_open
from fieldwork.models import Evidence
from notifications.services import tracking_order_for_token, tracking_url
from notifications.sms import mask_phone
from payments import services as payment_services
from payments.channels import CHANNELS
from payments.models import Installment
from portal import services
from portal.page import tracking_page_build
from workflows.models import ServiceOrder, StageSubmissionFile

logger = logging.getLogger("portal")

SECURITY_HEADERS = {
    # The link is the key: keep it out of Referer headers sent elsewhere (same-origin keeps the
    # Origin header of our own forms, which the CSRF check needs), caches and search engines.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store, private",
    "X-Robots-Tag": "noindex, nofollow",
}
# What a redirect back to the page says happened (?done=...); marked for the catalogue, translated when shown.
DONE_MESSAGES = {
    "code_sent": gettext_noop("A code was sent by SMS to your phone. Enter it below."),
    "verified": gettext_noop("Your phone is confirmed: you can act on this order from this device."),
    "logged_out": gettext_noop("You logged out on this device."),
    "approved": gettext_noop("Thank you: you approved it."),
    "rejected": gettext_noop("Your request for changes was sent to the store."),
    "booked": gettext_noop("Your visit is booked."),
    "moved": gettext_noop("Your visit was moved."),
    "rated": gettext_noop("Thank you for rating the service."),
    "paid": gettext_noop("Thank you for your payment."),
    "revision_accepted": gettext_noop("You accepted the new price: the payments below follow it."),
    "revision_declined": gettext_noop("You declined the new price: the store will contact you."),
}
# Why an action was refused, in words (by the stable code).
ERROR_MESSAGES = {
    "code_wrong": gettext_noop("That code is not right. Check the SMS and try again."),
    "code_locked": gettext_noop("That code was entered wrongly too often and no longer works. Ask for a new code."),
    "code_expired": gettext_noop("That code has expired. Ask for a new code."),
    "no_code": gettext_noop("Ask for a code first."),
    "verify_first": gettext_noop("Confirm your phone with an SMS code first."),
}


class InvalidLink(Http404):
    pass


def cookie_name(order: ServiceOrder) -> str:
    return f"portal_{order.pk}"


def order_or_invalid(token: str) -> ServiceOrder:
    order = tracking_order_for_token(token, ServiceOrder.objects.select_related("store", "merchant", "consumer"))
    if order is None:
        raise InvalidLink("This tracking link is not valid (any more). Ask the store for a new one.")
    return order


def invalid(request):
    return respond(request, "portal/tracking_invalid.html", {}, status=404)


def secure(response):
    for key, value in SECURITY_HEADERS.items():
        response[key] = value
    return response


def respond(request, template: str, context: dict, status: int = 200):
    return secure(render(request, template, context, status=status))


def show_page(request, order: ServiceOrder, token: str, *, message: str = "", message_code: str = "",
              status: int = 200, code_form: bool = False):
    """The page itself (also after a refused action, with why)."""
    session = services.session_for(order=order, key=request.COOKIES.get(cookie_name(order)))
    page = tracking_page_build(order, live=session is not None)
    return respond(request, "portal/tracking.html", {
        "page": page, "order": order, "token": token, "tz": order.store.timezone, "message": message,
        "message_code": message_code, "session": session, "code_form": code_form,
        "masked_phone": mask_phone(order.consumer.phone or ""),
    }, status=status)


@require_GET
def tracking_page(request, token: str):
    try:
        order = order_or_invalid(token)
    except InvalidLink:
        return invalid(request)
    done = request.GET.get("payment") or request.GET.get("done") or ""
    message = _(DONE_MESSAGES[done]) if done in DONE_MESSAGES else ""
    return show_page(request, order, token, message=message, message_code=done if message else "",
                     code_form=done == "code_sent")


def _start_payment(installment, order: ServiceOrder, return_url: str, channel: str, client_ip: str) -> str:
    """Start paying the installment through the payments app (as the order's consumer, whom the
    signed link stands for) through `channel` (one of the page's buttons; none: the sandbox where it is on);
    returns the provider's checkout URL with the way back to this page."""
    if channel and (channel not in CHANNELS or CHANNELS[channel].action != "redirect"):
        raise DomainError(_("This page cannot pay through that channel."), code="channel_unavailable")
    payer = payment_services.Payer(client_ip=client_ip, return_url=return_url)
    result = payment_services.installment_pay(installment=installment, actor=order.consumer, channel=channel,
                                              payer=payer)
    action = _redirect_action(result.payment)
    url = action.get("url", "") if action.get("type") == "redirect" else ""
    if not url:
        raise DomainError(_("The payment could not be opened at the provider; try again in a moment."),
                          code="no_checkout")
    if result.payment.provider != "sandbox":
        return url  # the provider sends the payer back to return_url itself
    sep = "&" if urlsplit(url).query else "?"
    return f"{url}{sep}{urlencode({'return': return_url})}"


def _redirect_action(payment) -> dict:
    return dict(payment.action or {}) or ({"type": "redirect", "url": payment.checkout_url}
                                          if payment.checkout_url else {})


@require_POST
def tracking_pay(request, token: str, installment_id: int):
    try:
        order = order_or_invalid(token)
    except InvalidLink:
        return invalid(request)
    installment = Installment.objects.filter(pk=installment_id, order=order).first()
    if installment is None:
        raise Http404("No such installment.")
    return_url = request.build_absolute_uri(f"{tracking_url(order)}?payment=paid")
    try:
        checkout_url = _start_payment(installment, order, return_url, request.POST.get("channel", "")[:40],
                                      request.META.get("REMOTE_ADDR", ""))
    except DomainError as exc:
        logger.info("tracking pay for order %s refused: %s", order.pk, exc.detail)
        return show_page(request, order, token, message=str(exc.detail), message_code=exc.code,
                         status=exc.status_code if exc.status_code < 500 else 400)
    return secure(HttpResponseRedirect(checkout_url))


def _file_response(opened, content_type: str, name: str, *, inline: bool):
    response = FileResponse(opened, content_type=content_type, as_attachment=not inline, filename=name)
    response["X-Content-Type-Options"] = "nosniff"
    return secure(response)


@require_GET
def tracking_file(request, token: str, file_id: int):
    """A file the store submitted for a stage (a design draft): PDFs and images open in the browser, anything
    else downloads."""
    try:
        order = order_or_invalid(token)
    except InvalidLink:
        return invalid(request)
    row = StageSubmissionFile.objects.filter(pk=file_id, stage__order=order).first()
    if row is None:
        raise Http404("No such file.")
    try:
        opened = stored_file_open(row.file, missing="missing", code="submission_file_missing")
    except NotFound:
        raise Http404("No such file.") from None
    inline = row.content_type.startswith("image/") or row.content_type == "application/pdf"
    return _file_response(opened, row.content_type if inline else "application/octet-stream",
                          f"file-{row.pk}.{row.extension}", inline=inline)


THUMB_PX = 320


@require_GET
def tracking_photo(request, token: str, photo_id: int):
    """A technician's photo; `?size=thumb` gives it at most 320 px wide (a JPEG), for the page's thumbnails."""
    try:
        order = order_or_invalid(token)
    except InvalidLink:
        return invalid(request)
    row = Evidence.objects.filter(pk=photo_id, order=order, content_type__startswith="image/").first()
    if row is None:
        raise Http404("No such photo.")
    try:
        opened = stored_file_open(row.file, missing="missing", code="evidence_file_missing")
    except NotFound:
        raise Http404("No such photo.") from None
    if request.GET.get("size") == "thumb":
        thumb = _thumbnail(opened)
        if thumb is not None:
            response = HttpResponse(thumb, content_type="image/jpeg")
            response["X-Content-Type-Options"] = "nosniff"
            return secure(response)
        opened = stored_file_open(row.file, missing="missing", code="evidence_file_missing")
    return _file_response(opened, row.content_type, f"photo-{row.pk}.{row.extension}", inline=True)


def _thumbnail(opened) -> bytes | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with opened, Image.open(opened) as image:
            image.thumbnail((THUMB_PX, THUMB_PX))
            out = io.BytesIO()
            image.convert("RGB").save(out, format="JPEG", quality=80)
            return out.getvalue()
    except (UnidentifiedImageError, OSError, ValueError):
        return None
