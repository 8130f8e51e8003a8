"""API paths answered the way API clients expect, in every mode (DEBUG included)."""

from django.http import JsonResponse, QueryDict
from django.urls import get_urlconf, is_valid_path
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError

API_PREFIX = "/api/"


class RepeatedQueryParameter(ValidationError):
    """A query parameter that takes one value was given several times (a 400, code `invalid`)."""


class SingleValueQueryDict(QueryDict):
    """`request.GET` on API paths. Django reads `?store=abc&store=` as its last value, so the first is silently
    dropped and a request the schema calls invalid is answered as if it were fine. Here reading a parameter as
    one value (`.get()`, `[]`, what serializers and filters do) refuses one given more than once; `getlist()`
    reads the list parameters (`?stores=1&stores=2`) as before, and parameters nobody reads are ignored."""

    def __getitem__(self, key):
        if len(self.getlist(key)) > 1:
            raise RepeatedQueryParameter({key: [_("Given more than once; this parameter takes one value.")]})
        return super().__getitem__(key)


class ApiPathMiddleware:
    """Two things Django does for pages that hurt API clients:

    - A write to an API path without its trailing slash (`POST /api/v1/orders/1/cancel`) is a 500 under
      DEBUG (APPEND_SLASH cannot redirect a POST) and a 301 otherwise, which many clients follow as a GET:
      the write is lost. Here the slash is added to the path itself, so the request reaches its view.
    - A path no route matches gets Django's HTML 404 page under DEBUG; API clients get the JSON error.

    - A query parameter given twice is read as its last value; API views read `SingleValueQueryDict` instead.

    Placed before CommonMiddleware, so APPEND_SLASH never sees an API path it would redirect."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if path.startswith(API_PREFIX):
            request.GET = SingleValueQueryDict(request.META.get("QUERY_STRING", ""), encoding=request.encoding)
        if path.startswith(API_PREFIX) and not path.endswith("/") and not is_valid_path(path, get_urlconf()) \
                and is_valid_path(f"{path}/", get_urlconf()):
            request.path_info = f"{path}/"
            request.path = f"{request.path}/"
        response = self.get_response(request)
        if response.status_code == 404 and request.path_info.startswith(API_PREFIX) \
                and response.get("Content-Type", "").startswith("text/html"):
            return JsonResponse({"code": "not_found", "detail": _("Not found.")}, status=404)
        return response

    def process_exception(self, request, exception):
        # A view outside DRF (whose handler renders it for DRF views) that reads a repeated parameter.
        if isinstance(exception, RepeatedQueryParameter):
            return JsonResponse({"code": "invalid", "detail": _("Invalid input."), "errors": exception.detail},
                                status=400)
        return None
