"""What the consumer does from the page besides paying: ask for and enter the SMS code, log out, approve or
reject a stage, book or move a visit, rate the service. All POST forms (CSRF-protected, no JavaScript
needed); each answers with a redirect back to the page saying what happened (`?done=...`), or the page with
why it was refused and a 4xx status. Everything but the code itself needs the device's session for this order
(403 `verify_first` otherwise), and goes through the same services as the API."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.http import HttpResponseRedirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import DomainError
from notifications.services import tracking_url
from portal import services
from portal.conf import setting
from portal.services import ratings
from portal.views import ERROR_MESSAGES, InvalidLink, cookie_name, invalid, order_or_invalid, secure, show_page

logger = logging.getLogger("portal")


def _back(order, done: str, anchor: str = ""):
    return secure(HttpResponseRedirect(f"{tracking_url(order)}?done={done}{'#' + anchor if anchor else ''}"))


def _refused(request, order, token, code: str, detail: str = "", status: int = 400, **kwargs):
    message = _(ERROR_MESSAGES[code]) if code in ERROR_MESSAGES else detail
    return show_page(request, order, token, message=message, message_code=code, status=status, **kwargs)


def _client_ip(request) -> str | None:
    # REMOTE_ADDR: behind a proxy, the proxy must set it from the client's address (see docs/portal.md).
    return request.META.get("REMOTE_ADDR") or None


def _acting(view):
    """Open the order from the link, check the device's session, turn a refusal into the page with why."""
    def wrapped(request, token: str, **kwargs):
        try:
            order = order_or_invalid(token)
        except InvalidLink:
            return invalid(request)
        if services.session_for(order=order, key=request.COOKIES.get(cookie_name(order))) is None:
            return _refused(request, order, token, "verify_first", status=403)
        try:
            return view(request, order, **kwargs)
        except DomainError as exc:
            logger.info("page action on order %s refused: %s %s", order.pk, exc.code, exc.detail)
            status = exc.status_code if 400 <= exc.status_code < 500 else 400
            return _refused(request, order, token, exc.code, str(exc.detail), status=status)
    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return require_POST(wrapped)


@require_POST
def code_send(request, token: str):
    """Text a 6-digit code to the order's consumer phone."""
    try:
        order = order_or_invalid(token)
    except InvalidLink:
        return invalid(request)
    try:
        services.code_send(order=order, ip=_client_ip(request))
    except DomainError as exc:
        return _refused(request, order, token, exc.code, str(exc.detail),
                        status=exc.status_code if 400 <= exc.status_code < 500 else 400)
    return _back(order, "code_sent", "verify")


@require_POST
def code_verify(request, token: str):
    """Check the code; the right one opens a session on this device for this order (a cookie)."""
    try:
        order = order_or_invalid(token)
    except InvalidLink:
        return invalid(request)
    result = services.code_verify(order=order, code=str(request.POST.get("code", ""))[:20])
    if not result.ok:
        status = 429 if result.code == "code_locked" else 400
        return _refused(request, order, token, result.code, status=status, code_form=result.code == "code_wrong")
    response = _back(order, "verified")
    response.set_cookie(
        cookie_name(order), result.session_key, max_age=int(timedelta(days=setting("PORTAL_SESSION_DAYS"))
                                                            .total_seconds()),
        path="/track/", secure=settings.SESSION_COOKIE_SECURE, httponly=True, samesite="Lax",
    )
    return response


@require_POST
def logout(request, token: str):
    try:
        order = order_or_invalid(token)
    except InvalidLink:
        return invalid(request)
    services.session_end(order=order, key=request.COOKIES.get(cookie_name(order)))
    response = _back(order, "logged_out")
    response.delete_cookie(cookie_name(order), path="/track/", samesite="Lax")
    return response


@_acting
def approve(request, order, stage_id: int):
    services.work_approve(order=order, stage_id=stage_id, signature=str(request.POST.get("signature", "")))
    return _back(order, "approved")


@_acting
def reject(request, order, stage_id: int):
    services.work_reject(order=order, stage_id=stage_id, reason=str(request.POST.get("reason", "")))
    return _back(order, "rejected")


@_acting
def book(request, order, stage_id: int):
    services.visit_book(order=order, stage_id=stage_id, window_start=str(request.POST.get("window_start", "")))
    return _back(order, "booked")


@_acting
def move(request, order, appointment_id: int):
    services.visit_move(order=order, appointment_id=appointment_id,
                        window_start=str(request.POST.get("window_start", "")))
    return _back(order, "moved")


@_acting
def rate(request, order):
    visits = {}
    for key, value in request.POST.items():
        if key.startswith("visit_") and value:
            visits[key.removeprefix("visit_")] = value
    ratings.rating_give(order=order, score=request.POST.get("score", ""), comment=str(request.POST.get("comment", "")),
                        visits=visits)
    return _back(order, "rated", "rating")


@_acting
def revision_accept(request, order, revision_id: int):
    services.revision_answer(order=order, revision_id=revision_id, accept=True)
    return _back(order, "revision_accepted")


@_acting
def revision_decline(request, order, revision_id: int):
    services.revision_answer(order=order, revision_id=revision_id, accept=False)
    return _back(order, "revision_declined")
