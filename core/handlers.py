"""Django-level error views.

A database outage is a 503 `{"code": "service_unavailable", ...}` on every /api/ path, wherever it
happens. Inside a DRF view `core.api.exception_handler` answers it; this covers what runs outside
the view (the Idempotency-Key middleware's queries, the token lookup it does, plain Django views):
Django turns such an exception into a call of `handler500`, with the exception still being handled.
"""

import sys

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views.defaults import server_error as django_server_error

UNAVAILABLE = _("The service is briefly unavailable; retry later.")


def server_error(request, *args, **kwargs):
    exc = sys.exc_info()[1]
    if isinstance(exc, OperationalError | InterfaceError) and request.path.startswith("/api/"):
        return JsonResponse({"code": "service_unavailable", "detail": str(UNAVAILABLE)}, status=503,
                            headers={"Retry-After": "5"})
    return django_server_error(request, *args, **kwargs)
