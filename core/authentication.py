"""API tokens that expire.

DRF's TokenAuthentication accepts a token forever. Here a token older than settings.API_TOKEN_TTL
(`API_TOKEN_TTL_HOURS`, 30 days by default) answers 401 `token_expired` and is deleted, so a leaked
token stops working by itself; logging in again issues a new one (`issue_token`). The age is read from
`Token.created`, which DRF's look-up already loads: the check costs no query.
"""

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from core.language import activate_for


def token_expired(token: Token) -> bool:
    return token.created <= timezone.now() - settings.API_TOKEN_TTL


class ExpiringTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`, refused once the token is older than API_TOKEN_TTL. The rest of the request
    speaks the user's own language (core.language): DRF authenticates after the middleware has run."""

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if token_expired(token):
            # Dead for good: a later login issues a new key rather than reviving this one.
            Token.objects.filter(pk=token.pk).delete()
            raise AuthenticationFailed(_("The token has expired; log in again for a new one."), code="token_expired")
        return user, token

    def authenticate(self, request):
        authenticated = super().authenticate(request)
        if authenticated is not None:
            activate_for(request._request, authenticated[0])
        return authenticated


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
