"""Idempotency-Key for every unsafe API request, in one middleware.

Same caller + key + request: the first response is replayed (same status and body) and the
view does not run again. Same key, other request: 422 `idempotency_key_reused`. A second
request while the first still runs: 409 `idempotency_in_progress`. Keys live
settings.IDEMPOTENCY_KEY_TTL (24 h by default). 5xx responses are not kept, so a retry after a
server failure does the work. A claim left "in progress" by a request that died (its worker killed, the
database gone before the key could be released) is taken over by a retry after
settings.IDEMPOTENCY_CLAIM_LEASE (5 min by default), instead of answering 409 for the whole TTL.
"""

import hashlib

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from core.authentication import token_expired
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
        return None if token_expired(token) else f"user:{user.pk}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return None


def _fingerprint(request) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(request.path.encode())
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length and length <= (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or length):
        digest.update(request.body)
    else:
        # Large uploads are not read twice; their length and type stand for them.
        digest.update(f"{length}:{request.META.get('CONTENT_TYPE', '')}".encode())
    return digest.hexdigest()


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
            return _error("invalid_idempotency_key", "Idempotency-Key is at most 255 characters.", 400)
        caller = _caller(request)
        if caller is None:
            # Unauthenticated requests get no replay store; the view answers 401 itself.
            return self.get_response(request)
        fingerprint = _fingerprint(request)
        record, created = self._claim(caller, key, fingerprint)
        if not created:
            if record.request_fingerprint != fingerprint:
                return _error(
                    "idempotency_key_reused", "This Idempotency-Key was used with a different request.", 422
                )
            if record.state == IdempotencyKey.State.IN_PROGRESS:
                return _error(
                    "idempotency_in_progress",
                    "A request with this Idempotency-Key is still in progress.",
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
        for _ in range(2):
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
        raise IntegrityError("could not claim idempotency key")


def purge_expired_keys() -> int:
    cutoff = timezone.now() - settings.IDEMPOTENCY_KEY_TTL
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


__all__ = ["IdempotencyMiddleware", "purge_expired_keys"]
