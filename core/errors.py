"""Domain errors. Services raise these; core.api.exception_handler renders them as
`{"code": ..., "detail": ..., **extra}` with the error's status.

`code` is a stable English identifier clients switch on; `detail` is for people, in their language: give it
with gettext (or gettext_lazy at import time), and a class's `default_detail` is used when none is given."""

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    code = "domain_error"
    status_code = 400
    default_detail = _("This request cannot be carried out.")

    def __init__(self, detail: str = "", *, code: str | None = None, status_code: int | None = None, **extra):
        super().__init__(detail)
        self.detail = detail or self.default_detail
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        self.extra = extra


class InvalidTransition(DomainError):
    """This action is not allowed in the current state."""

    code = "invalid_transition"
    status_code = 409
    default_detail = _("This action is not allowed in the current state.")


class GuardFailed(InvalidTransition):
    """The action is allowed in this state but a precondition does not hold yet."""

    code = "guard_failed"
    default_detail = _("This action is allowed in this state, but a condition for it is not met yet.")


class Conflict(DomainError):
    code = "conflict"
    status_code = 409
    default_detail = _("This conflicts with the current state; reload and try again.")


class NotFound(DomainError):
    code = "not_found"
    status_code = 404
    default_detail = _("Not found.")


class PermissionDeniedError(DomainError):
    code = "permission_denied"
    status_code = 403
    default_detail = _("You do not have permission to do this.")
