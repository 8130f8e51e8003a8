"""Which language a person reads (api-contract.md, Language): their own setting (`User.language`), else their
browser's `Accept-Language`, else settings.LANGUAGE_CODE (Simplified Chinese).

Django's LocaleMiddleware does the last two for every request. The person's own setting is applied once the
request knows who they are: `UserLanguageMiddleware` for the admin's session logins, and the API's token
authentication (core.authentication), since DRF authenticates after the middleware has run. Messages, made
far from any request, are rendered with `override(recipient_language(user))`.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import translation


def supported(language: str | None) -> str | None:
    """The supported language code for `language` ("zh-Hans" -> "zh-hans"), or None."""
    if not language:
        return None
    try:
        return translation.get_supported_language_variant(language.lower())
    except LookupError:
        return None


def user_language(user) -> str | None:
    """The person's own setting, when they chose a supported language; None means "follow the browser"."""
    return supported(getattr(user, "language", "") or "")


def recipient_language(user) -> str:
    """The language of a message to `user`: their own setting, else the service's default (no browser to ask)."""
    return user_language(user) or settings.LANGUAGE_CODE


def activate_for(request, user) -> None:
    """Switch the rest of this request to `user`'s own language, when they chose one."""
    language = user_language(user)
    if language:
        translation.activate(language)
        if request is not None:
            request.LANGUAGE_CODE = language


def override(language: str | None):
    """`with override(language):` render in that language (the default language when None)."""
    return translation.override(supported(language) or settings.LANGUAGE_CODE)


class UserLanguageMiddleware:
    """After AuthenticationMiddleware: a logged-in person's own language wins over Accept-Language."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            activate_for(request, user)
        return self.get_response(request)
