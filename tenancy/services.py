"""Writes on the tenancy's own records that the API and the admin share (a person's own language, a
technician's skills)."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from core.authentication import forget_cached_token
from core.errors import DomainError
from core.language import supported
from tenancy import policy
from tenancy.models import Skill, User


@transaction.atomic
def user_language_set(*, user: User, language: str) -> User:
    """The person's own language for pages, error details and messages ("" = follow the browser)."""
    value = supported(language) or "" if language else ""
    User.objects.filter(pk=user.pk).update(language=value)
    forget_cached_token(user.pk)  # the cached token look-up holds the user with its language
    user.language = value
    return user


@transaction.atomic
def technician_skills_set(*, technician: User, skills: list[str], actor) -> User:
    """Replace a technician's skills (slugs such as measure, install; duplicates dropped, order kept). Visits of a
    stage that requires a skill go only to technicians with it (workflows.services.appointments)."""
    policy.require(actor, "technician.skills")
    technician = User.objects.select_for_update().get(pk=technician.pk)
    if technician.role != User.Role.TECHNICIAN:
        raise DomainError(_("Only technicians have skills."), code="invalid")
    unknown = Skill.unknown(technician.merchant_id, skills)
    if unknown:
        message = _("Not among the brand's skills: %(unknown)s.") % {"unknown": ", ".join(unknown)}
        raise DomainError(message, code="invalid", errors={"skills": [message]})
    technician.skills = list(dict.fromkeys(skills))
    technician.save(update_fields=["skills"])
    return technician

