"""The sandbox checkout page: what a provider's hosted checkout would be, with Pay and Fail buttons.

GET shows the payment; POST with outcome=paid|failed (form or JSON) settles it by sending the
signed webhook a provider would send, through payments.services.webhook_receive. The URL's token
is the payment's unguessable reference, so the page needs no login (like a provider's page).
"""

import json

from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from core.display import money as display
from core.errors import DomainError
from payments import services
from payments.models import Payment
from payments.providers.sandbox import SandboxProvider


def _safe_return(request, url: str) -> str:
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
        return url
    return ""


def _wants_json(request) -> bool:
    return (request.content_type == "application/json"
            or "application/json" in request.headers.get("Accept", ""))


@csrf_exempt
@require_http_methods(["GET", "POST"])
def sandbox_checkout(request, token: str):
    payment = (Payment.objects.select_related("order__store", "installment__stage__definition")
               .filter(reference=token[:64], provider=SandboxProvider.name).first())
    if payment is None:
        raise Http404(_("No such payment."))
    return_url = _safe_return(request, request.GET.get("return", ""))
    if request.method == "GET":
        return render(request, "payments/sandbox_checkout.html",
                      {"payment": payment, "amount": display(payment.amount, payment.currency),
                       "return_url": return_url})
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
            outcome = str(body.get("outcome", "")) if isinstance(body, dict) else ""
        except ValueError:
            outcome = ""
    else:
        outcome = request.POST.get("outcome", "")
    try:
        services.sandbox_checkout_complete(payment=payment, outcome=outcome)
        error = None
    except DomainError as exc:
        error = exc
    payment = Payment.objects.select_related("order__store", "installment__stage__definition").get(pk=payment.pk)
    if _wants_json(request):
        if error is not None:
            return JsonResponse({"code": error.code, "detail": str(error.detail), **error.extra},
                                status=error.status_code)
        return JsonResponse({"payment": payment.pk, "status": payment.status, "return_url": return_url or None})
    if error is None and payment.status == Payment.Status.CAPTURED and return_url:
        return HttpResponseRedirect(return_url)
    return render(request, "payments/sandbox_checkout.html",
                  {"payment": payment, "amount": display(payment.amount, payment.currency), "return_url": return_url,
                   "error": error},
                  status=error.status_code if error else 200)
