"""Write operations of the tenancy app that people do to their own account."""

from __future__ import annotations

from django.db import transaction

from core.language import supported
from tenancy.models import User


@transaction.atomic
def user_language_set(*, user: User, language: str) -> User:
    """The person's own language for pages, error details and messages ("" = follow the browser)."""
    value = supported(language) or "" if language else ""
    User.objects.filter(pk=user.pk).update(language=value)
    user.language = value
    return user
