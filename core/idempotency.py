"""Idempotency-Key for every unsafe API request, in one middleware.

Same caller + key + request: the first response is replayed (same status and body) and the
view does not run again. Same key, other request: 422 `idempotency_key_reused`. A second
request while the first still runs: 409 `idempotency_in_progress`. Keys live
settings.IDEMPOTENCY_KEY_TTL (24 h by default). 5xx responses are not kept, so a retry after a
server failure does the work. A claim left "in progress" by a request that died (its worker killed, the
database gone before the key could be released) is taken over by a retry after
settings.IDEMPOTENCY_CLAIM_LEASE (5 min by default), instead of answering 409 for the whole TTL.

"Same request" means the same method, path and body meaning (see _fingerprint): JSON by its parsed value,
forms by their sorted fields, multipart by its fields and each file's (field, name, declared type,
sha256), whatever the boundary, so a mobile client's retried upload replays. A multipart POST to a view
that parses multipart is parsed here by Django (request.POST/FILES, files hashed while they stream to
memory or a temporary file); DRF then reuses that parse. Fingerprints carry a "v2:" prefix; a key stored
before it (64 hex digits of the raw bytes) is judged by the raw bytes until it expires.
"""

import base64
import hashlib
import json

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.core.files.uploadhandler import FileUploadHandler
from django.db import IntegrityError, transaction
from django.http import HttpResponse, JsonResponse, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.http.request import RawPostDataException
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.http import parse_header_parameters
from django.utils.translation import gettext as _
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from core.authentication import token_expired
from core.language import activate_for
from core.models import IdempotencyKey

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
HEADER = "HTTP_IDEMPOTENCY_KEY"
MAX_KEY_LENGTH = 255


def _caller(request) -> str | None:
    auth = request.META.get("HTTP_AUTHORIZATION", "")
    if auth.startswith("Token "):
        try:
            user, token = TokenAuthentication().authenticate_credentials(auth.removeprefix("Token ").strip())
        except AuthenticationFailed:
            return None
        # An expired token gets no replay store either: its 401 must not be replayed to the retry
        # that comes with a new token and the same key.
        if token_expired(token):
            return None
        activate_for(request, user)  # its errors below in the caller's own language, as the view's
        return f"user:{user.pk}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return None


FINGERPRINT_VERSION = "v2"
JSON_TYPES = ("application/json",)
FORM_TYPE = "application/x-www-form-urlencoded"
MULTIPART_TYPE = "multipart/form-data"


class _HashingUploadHandler(FileUploadHandler):
    """First in the request's upload handlers: hashes each file part while Django streams it to the
    next handler (memory or temporary file), so the middleware never holds or re-reads a copy."""

    def __init__(self, request=None):
        super().__init__(request)
        self.parts: list[list[str]] = []
        self._sha = None

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self._sha = hashlib.sha256()

    def receive_data_chunk(self, raw_data, start):
        self._sha.update(raw_data)
        return raw_data  # handed on unchanged

    def file_complete(self, file_size):
        self.parts.append([self.field_name, self.file_name, self.content_type or "", self._sha.hexdigest()])
        return None  # the next handler makes the file the view receives


def _view_parses_multipart(request) -> bool:
    """Whether the view behind the path reads multipart bodies. Only then does the middleware parse one
    (DRF reuses the parsed request.POST/FILES); a view that does not keeps answering 415 to it."""
    try:
        match = resolve(request.path_info, getattr(request, "urlconf", None))
    except Resolver404:
        return False
    view_class = getattr(match.func, "cls", None)
    if view_class is None:
        return True  # a plain Django view reads request.POST itself
    initkwargs = getattr(match.func, "initkwargs", None) or {}
    parsers = initkwargs.get("parser_classes", getattr(view_class, "parser_classes", ()))
    return any(getattr(parser, "media_type", "") == MULTIPART_TYPE for parser in parsers)


def _multipart_meaning(request) -> list:
    """The form fields and, per file part, (field, file name, declared type, sha256): not the boundary.
    Parsed by Django itself (request.POST/FILES), which DRF then reuses instead of parsing again."""
    hasher = None
    if not hasattr(request, "_files"):  # not parsed yet: hash while Django reads
        hasher = _HashingUploadHandler(request)
        request.upload_handlers.insert(0, hasher)
    fields, files = request.POST, request.FILES
    if hasher is not None:
        parts = hasher.parts
    else:  # something before this middleware parsed it already: hash the stored files, chunk by chunk
        parts = []
        for field, uploads in files.lists():
            for upload in uploads:
                sha = hashlib.sha256()
                for chunk in upload.chunks():
                    sha.update(chunk)
                upload.seek(0)
                parts.append([field, upload.name, upload.content_type or "", sha.hexdigest()])
    return [
        sorted([name, fields.getlist(name)] for name in fields),
        sorted(parts, key=lambda part: part[0]),  # stable: several files of one field keep their order
    ]


def _body_meaning(request) -> tuple[str, object]:
    content_type, _params = parse_header_parameters(request.META.get("CONTENT_TYPE", ""))
    content_type = content_type.lower()
    if content_type == MULTIPART_TYPE and request.method == "POST" and _view_parses_multipart(request):
        return "multipart", _multipart_meaning(request)
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or length):
        # Other large bodies are not read twice; their length and media type stand for them.
        return "large", [length, content_type]
    body = request.body
    if content_type in JSON_TYPES or content_type.endswith("+json"):
        try:
            return "json", json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        except (ValueError, RecursionError):
            pass  # not JSON after all (or too deep to canonicalise): its bytes stand for it
    elif content_type == FORM_TYPE:
        try:
            form = QueryDict(body, encoding=request.encoding or settings.DEFAULT_CHARSET)
            return "form", sorted([name, form.getlist(name)] for name in form)
        except (ValueError, SuspiciousOperation):
            pass
    return "bytes", hashlib.sha256(body).hexdigest()


def _fingerprint(request) -> str:
    """What the request means, not its bytes: parsed JSON with sorted keys, sorted form fields, multipart
    fields and file hashes independent of the boundary. Raises MultiPartParserError on a broken form."""
    meaning = [request.method, request.path, *_body_meaning(request)]
    canonical = json.dumps(meaning, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    digest = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    return f"{FINGERPRINT_VERSION}:{digest}"  # 46 characters: fits the 64 of the column


def _legacy_fingerprint(request) -> str | None:
    """The raw-bytes fingerprint keys were stored with before v2 (64 hex digits), computed only to judge
    such a key within its 24 h after the deploy. None when the raw bytes were streamed (multipart)."""
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(request.path.encode())
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length and length <= (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or length):
        try:
            digest.update(request.body)
        except RawPostDataException:
            return None
    else:
        digest.update(f"{length}:{request.META.get('CONTENT_TYPE', '')}".encode())
    return digest.hexdigest()


def _same_request(stored: str, fingerprint: str, request) -> bool:
    if stored.startswith(f"{FINGERPRINT_VERSION}:"):
        return stored == fingerprint
    return stored == _legacy_fingerprint(request)


def _error(code: str, detail: str, status: int) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail}, status=status)


class IdempotencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = request.META.get(HEADER)
        if not key or request.method not in UNSAFE_METHODS or not request.path.startswith("/api/"):
            return self.get_response(request)
        if len(key) > MAX_KEY_LENGTH:
            return _error("invalid_idempotency_key", _("Idempotency-Key is at most 255 characters."), 400)
        caller = _caller(request)
        if caller is None:
            # Unauthenticated requests get no replay store; the view answers 401 itself.
            return self.get_response(request)
        try:
            fingerprint = _fingerprint(request)
        except MultiPartParserError as exc:  # what DRF's parser would have answered
            return _error("parse_error", _("Multipart form parse error - %(error)s") % {"error": exc}, 400)
        record, created = self._claim(caller, key, fingerprint)
        if not created:
            if not _same_request(record.request_fingerprint, fingerprint, request):
                return _error(
                    "idempotency_key_reused", _("This Idempotency-Key was used with a different request."), 422
                )
            if record.state == IdempotencyKey.State.IN_PROGRESS:
                return _error(
                    "idempotency_in_progress",
                    _("A request with this Idempotency-Key is still in progress."),
                    409,
                )
            response = HttpResponse(
                bytes(record.response_body or b""),
                status=record.response_status,
                content_type=record.response_content_type or "application/json",
            )
            response["Idempotent-Replayed"] = "true"
            return response

        try:
            response = self.get_response(request)
        except BaseException:
            IdempotencyKey.objects.filter(pk=record.pk).delete()
            raise
        if (
            response.status_code >= 500
            or response.status_code == 429
            or getattr(response, "streaming", False)
        ):
            IdempotencyKey.objects.filter(pk=record.pk).delete()
            return response
        if hasattr(response, "render") and not response.is_rendered:
            response.render()
        IdempotencyKey.objects.filter(pk=record.pk).update(
            state=IdempotencyKey.State.DONE,
            response_status=response.status_code,
            response_body=response.content,
            response_content_type=response.get("Content-Type", ""),
        )
        return response

    def _claim(self, caller: str, key: str, fingerprint: str) -> tuple[IdempotencyKey, bool]:
        for _attempt in range(2):
            try:
                with transaction.atomic():
                    return IdempotencyKey.objects.create(
                        caller=caller, key=key, request_fingerprint=fingerprint
                    ), True
            except IntegrityError:
                existing = IdempotencyKey.objects.filter(caller=caller, key=key).first()
                if existing is None:
                    continue  # expired and deleted between our insert and read
                now = timezone.now()
                expired = existing.created_at < now - settings.IDEMPOTENCY_KEY_TTL
                # A claim still "in progress" past the lease belongs to a request that died (no request runs
                # that long): let the retry take it over. The conditional delete lets only one retry do so.
                abandoned = (existing.state == IdempotencyKey.State.IN_PROGRESS
                             and existing.created_at < now - settings.IDEMPOTENCY_CLAIM_LEASE)
                if expired or abandoned:
                    IdempotencyKey.objects.filter(pk=existing.pk, state=existing.state,
                                                  created_at=existing.created_at).delete()
                    continue
                return existing, False
        raise IntegrityError(_("could not claim idempotency key"))


def purge_expired_keys() -> int:
    cutoff = timezone.now() - settings.IDEMPOTENCY_KEY_TTL
    deleted, _by_model = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


__all__ = ["IdempotencyMiddleware", "purge_expired_keys"]
