"""The API's shared pieces: pagination, the one error format, scoped querysets, and file downloads."""

import logging

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files import File
from django.db import DatabaseError, DataError, InterfaceError, OperationalError
from django.http import FileResponse, Http404, JsonResponse
from django.utils.translation import gettext as _
from django.views.defaults import page_not_found
from rest_framework import exceptions, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import DomainError
from core.handlers import UNAVAILABLE

logger = logging.getLogger(__name__)


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request):
        """A page_size that is not a whole number of at least 1 is refused (400), not silently ignored;
        one above max_page_size is capped."""
        raw = request.query_params.get(self.page_size_query_param)
        if not raw:  # absent, or sent empty
            return self.page_size
        if not (raw.isascii() and raw.isdigit()):
            size = 0
        else:  # a number of thousands of digits is only "more than the cap" (int() of it would raise)
            digits = raw.lstrip("0")
            size = int(digits or "0") if len(digits) <= 9 else self.max_page_size
        if size < 1:
            raise exceptions.ValidationError({self.page_size_query_param: [_("A whole number of at least 1.")]})
        return min(size, self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
                parameter["description"] = f"Results per page (at most {self.max_page_size}; more is capped)."
        return parameters


def _error(code: str, detail, http_status: int, **extra) -> Response:
    return Response({"code": code, "detail": detail, **extra}, status=http_status)


def exception_handler(exc, context):
    """Render every error as {"code", "detail", ...}. Nothing a client sends becomes a 500."""
    if isinstance(exc, DomainError):
        return _error(exc.code, str(exc.detail), exc.status_code, **exc.extra)
    if isinstance(exc, DjangoValidationError):
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return _error("invalid", _("Invalid input."), status.HTTP_400_BAD_REQUEST, errors=errors)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, OperationalError | InterfaceError):
        logger.error("database unavailable: %s", exc.__class__.__name__)
        return _error("service_unavailable", str(UNAVAILABLE), 503)
    elif isinstance(exc, DataError):
        # A value the database cannot store (a NUL byte in text, a number out of range): the input is bad.
        return _error("invalid", _("Invalid input: a value cannot be stored."), status.HTTP_400_BAD_REQUEST)
    elif isinstance(exc, DatabaseError):
        return None
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        data = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = {"code": "invalid", "detail": _("Invalid input."), "errors": data}
    else:
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        response.data = {"code": code if isinstance(code, str) else "error", "detail": str(exc.detail)}
    return response


def not_found(request, exception=None):
    """handler404: a URL no route matches answers /api/ callers in the one error format, others the HTML page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "not_found", "detail": _("Not found.")}, status=status.HTTP_404_NOT_FOUND)
    return page_not_found(request, exception)


# --- downloads -----------------------------------------------------------------------------------

# Never rendered as a page: no script, no subresource, no framing, whatever the bytes are.
DOWNLOAD_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'"


class _AnyAccept(DefaultContentNegotiation):
    """A download answers its file whatever the client's Accept header says (its errors are JSON)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except exceptions.NotAcceptable:
            return renderers[0], renderers[0].media_type


class AttachmentApi(APIView):
    """Base of the views that answer one stored file (GET): authenticated callers, JSON errors, any Accept
    header. A view says which file with `stored_file` (whose selector decides who may see it: NotFound for anyone
    else) and describes itself with the class decorator core.schema.attachment_schema."""

    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _AnyAccept

    def stored_file(self, user, **path) -> tuple[File, str, str]:
        """(the opened file, the name the server sends it under, its detected content type)."""
        raise NotImplementedError

    def get(self, request, **path):
        # The file as an attachment named by the server, with its detected type, never sniffed, rendered or kept
        # by a shared cache. (No docstring: the schema describes each download with its view's.)
        opened, filename, content_type = self.stored_file(request.user, **path)
        response = FileResponse(opened, as_attachment=True, filename=filename, content_type=content_type)
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = DOWNLOAD_CSP
        response["Cache-Control"] = "private, no-store"
        return response
