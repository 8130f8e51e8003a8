"""Domain errors. Services raise these; core.api.exception_handler renders them as
`{"code": ..., "detail": ..., **extra}` with the error's status."""


class DomainError(Exception):
    code = "domain_error"
    status_code = 400

    def __init__(self, detail: str = "", *, code: str | None = None, status_code: int | None = None, **extra):
        super().__init__(detail)
        self.detail = detail or self.__class__.__doc__ or self.code
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        self.extra = extra


class InvalidTransition(DomainError):
    """This action is not allowed in the current state."""

    code = "invalid_transition"
    status_code = 409


class GuardFailed(InvalidTransition):
    """The action is allowed in this state but a precondition does not hold yet."""

    code = "guard_failed"


class Conflict(DomainError):
    code = "conflict"
    status_code = 409


class NotFound(DomainError):
    code = "not_found"
    status_code = 404


class PermissionDeniedError(DomainError):
    code = "permission_denied"
    status_code = 403
