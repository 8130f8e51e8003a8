"""API paths answered the way API clients expect, in every mode (DEBUG included)."""

from django.http import JsonResponse
from django.urls import get_urlconf, is_valid_path

API_PREFIX = "/api/"


class ApiPathMiddleware:
    """Two things Django does for pages that hurt API clients:

    - A write to an API path without its trailing slash (`POST /api/v1/orders/1/cancel`) is a 500 under
      DEBUG (APPEND_SLASH cannot redirect a POST) and a 301 otherwise, which many clients follow as a GET:
      the write is lost. Here the slash is added to the path itself, so the request reaches its view.
    - A path no route matches gets Django's HTML 404 page under DEBUG; API clients get the JSON error.

    Placed before CommonMiddleware, so APPEND_SLASH never sees an API path it would redirect."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if path.startswith(API_PREFIX) and not path.endswith("/") and not is_valid_path(path, get_urlconf()) \
                and is_valid_path(f"{path}/", get_urlconf()):
            request.path_info = f"{path}/"
            request.path = f"{request.path}/"
        response = self.get_response(request)
        if response.status_code == 404 and request.path_info.startswith(API_PREFIX) \
                and response.get("Content-Type", "").startswith("text/html"):
            return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)
        return response
