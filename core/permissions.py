from rest_framework.permissions import BasePermission

from tenancy.models import User


class RolePermission(BasePermission):
    """Allow only the roles a view names (per action via `roles_by_action`, else `allowed_roles`).

    A role that may never take an action gets 403; objects it may not see are filtered out by
    tenancy.scoping and answer 404.
    """

    message = "Your role may not do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        roles = getattr(view, "roles_by_action", {}).get(getattr(view, "action", None))
        if roles is None:
            roles = getattr(view, "allowed_roles", None)
        if roles is None:
            return True
        return user.role in roles or (user.is_operator and User.Role.PLATFORM_OPERATOR in roles)
