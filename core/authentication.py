"""API tokens that expire.

DRF's TokenAuthentication accepts a token forever. Here a token older than settings.API_TOKEN_TTL
(`API_TOKEN_TTL_HOURS`, 30 days by default) answers 401 `token_expired` and is deleted, so a leaked
token stops working by itself; logging in again issues a new one (`issue_token`). The age is read from
`Token.created`, which DRF's look-up already loads: the check costs no query.

The look-up is kept in the cache for API_TOKEN_CACHE_SECONDS (on when the cache is shared by every process), so a
request authenticates without a statement. The entry (the user without its password hash, the token's issue time;
never the key) is dropped when the token is saved or deleted (logout, expiry) and when its user is saved or deleted
(deactivated, a new role), at once and again when that transaction commits. A change to a user made without a save
(a queryset update, as user_language_set's) calls forget_cached_token.
"""

import copy
import hashlib

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from core.compiled import CompiledQuery
from core.language import activate_for
from core.shared_cache import shared_cache_seconds


def token_expired(token: Token) -> bool:
    return token.created <= timezone.now() - settings.API_TOKEN_TTL


def _cache_key(key: str) -> str:
    return "api-token:" + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def _user_cache_key(user_id) -> str:
    return f"api-token-user:{user_id}"


def _cache_seconds() -> int:
    """API_TOKEN_CACHE_SECONDS, or 0 when the cache lives in each process (unless API_TOKEN_CACHE_IN_PROCESS)."""
    return shared_cache_seconds("API_TOKEN_CACHE_SECONDS", "API_TOKEN_CACHE_IN_PROCESS")


# DRF's look-up (TokenAuthentication.authenticate_credentials), compiled once per connection (core.compiled).
_TOKEN = CompiledQuery("auth.token", lambda key: Token.objects.select_related("user").filter(key=key))


def _token_and_user(key: str) -> tuple:
    """As DRF's look-up: the token's user and the token, refused as DRF refuses them (its words)."""
    rows = _TOKEN.models(key=key)
    if not rows:
        raise AuthenticationFailed(_("Invalid token."))
    if not rows[0].user.is_active:
        raise AuthenticationFailed(_("User inactive or deleted."))
    return rows[0].user, rows[0]


class ExpiringTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`, refused once the token is older than API_TOKEN_TTL. The rest of the request
    speaks the user's own language (core.language): DRF authenticates after the middleware has run."""

    def authenticate_credentials(self, key):
        ttl = _cache_seconds()
        entry = cache.get(_cache_key(key)) if ttl > 0 else None
        if entry is not None:
            user, created = entry
            token = Token(key=key, user=user, created=created)
        else:
            user, token = _token_and_user(key)
        if token_expired(token):
            # Dead for good: a later login issues a new key rather than reviving this one.
            Token.objects.filter(pk=token.pk).delete()
            raise AuthenticationFailed(_("The token has expired; log in again for a new one."), code="token_expired")
        if entry is None and ttl > 0:
            kept = copy.copy(user)
            kept.__dict__.pop("password", None)  # a deferred field: read from the database if ever needed
            cache.set_many({_cache_key(key): (kept, token.created), _user_cache_key(user.pk): _cache_key(key)}, ttl)
        return user, token

    def authenticate(self, request):
        authenticated = super().authenticate(request)
        if authenticated is not None:
            activate_for(request._request, authenticated[0])
        return authenticated


def _forget(keys: list[str]) -> None:
    cache.delete_many(keys)
    transaction.on_commit(lambda: cache.delete_many(keys))  # a look-up racing the change may have kept the old one


def _token_changed(sender, instance, **kwargs) -> None:
    _forget([_cache_key(instance.key), _user_cache_key(instance.user_id)])


def forget_cached_token(user_id) -> None:
    """Drop the user's cached token look-up: for a change to the user made without a save (a queryset update)."""
    kept = cache.get(_user_cache_key(user_id))
    if kept:
        _forget([kept, _user_cache_key(user_id)])


def _user_changed(sender, instance, **kwargs) -> None:
    forget_cached_token(instance.pk)


def connect_token_cache() -> None:
    """Drop a cached look-up when its token or user changes (CoreConfig.ready)."""
    for signal in (post_save, post_delete):
        signal.connect(_token_changed, sender=Token, dispatch_uid=f"token-cache-token-{signal is post_save}")
        signal.connect(_user_changed, sender=settings.AUTH_USER_MODEL,
                       dispatch_uid=f"token-cache-user-{signal is post_save}")


def issue_token(user) -> Token:
    """The user's token for a login: the current one while it is valid (one token per user, shared by
    the user's devices), a new key once it has expired."""
    with transaction.atomic():
        token, created = Token.objects.select_for_update().get_or_create(user=user)
        if not created and token_expired(token):
            token.delete()
            token = Token.objects.create(user=user)
    return token


def revoke_tokens(user) -> None:
    """Logout: the user's key stops working at once, on every device that shares it."""
    Token.objects.filter(user=user).delete()
