"""Who may do what: the one table of role rules, asked by the API, the admin, the engine and the services.

`RULES` maps an action to the roles that may take it (`SYSTEM`, None, stands for the service itself:
payments settling, passive stages completing). The engine's triggers are actions of the same name; the
other actions are what people do through the API and the admin. A role missing from an action's set may
never take it: 403 `permission_denied`. Whether the caller may see the *object* is tenancy.scoping's
question (404): the policy answers "may this role do this at all?", the scope "to this object?".

Platform operators (and superusers) count as `platform_operator` wherever that role is listed.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework.permissions import BasePermission

from core.errors import PermissionDeniedError
from tenancy.models import User

Role = User.Role
SYSTEM = None
CONSUMER, TECHNICIAN = Role.CONSUMER, Role.TECHNICIAN
MANAGER, ADMIN, OPERATOR = Role.STORE_MANAGER, Role.MERCHANT_ADMIN, Role.PLATFORM_OPERATOR
STORE_STAFF = frozenset({MANAGER, ADMIN})
STAFF = frozenset({MANAGER, ADMIN, OPERATOR})

RULES: dict[str, frozenset] = {
    # --- the engine's triggers ---
    "unblock": frozenset({SYSTEM}),
    "settle": frozenset({SYSTEM}),
    "book": frozenset({CONSUMER, *STORE_STAFF}),
    "reschedule": frozenset({CONSUMER, *STAFF}),
    "start": frozenset({TECHNICIAN, *STORE_STAFF, SYSTEM}),
    "complete": frozenset({TECHNICIAN, *STORE_STAFF, SYSTEM}),
    "approve": frozenset({CONSUMER}),
    "reject": frozenset({CONSUMER}),
    "resume": STORE_STAFF,
    "cancel": frozenset({CONSUMER, *STAFF, SYSTEM}),
    # --- templates ---
    "template.view": STAFF,
    "template.author": frozenset({ADMIN}),  # create, edit, publish, distribute
    # --- orders and visits ---
    "order.create": STAFF,
    "appointment.assign": STAFF,
    "store.overrides": STORE_STAFF,  # a store's own values within its brand's bounds (the merchant admin's too)
    "technician.skills": STAFF,  # set a technician's skills (which visits they may be given)
    "stage.start_offsite": STORE_STAFF,  # staff begin off-site work; technicians start on-site work by checking in
    "stage.submit": STORE_STAFF,  # staff deliver off-site work (a design draft)
    # --- money and vouchers ---
    "pay": frozenset({CONSUMER, *STORE_STAFF}),  # staff open a payment to show its link or QR at the counter
    "refund": STORE_STAFF,
    "revision.propose": STORE_STAFF,  # a price revision (增减项) of an order, like other staff order actions
    "revision.answer": frozenset({CONSUMER}),  # only the order's consumer accepts or declines it
    "revision.view": frozenset({CONSUMER, *STAFF}),  # technicians never see an order's money
    "redeem": frozenset({TECHNICIAN, *STORE_STAFF}),
    "order.rate": frozenset({CONSUMER}),  # the consumer's rating of a completed order (also on the tracking page)
    "reschedule.beyond_limit": STAFF,  # a consumer may move a visit APPOINTMENT_MAX_RESCHEDULES times; staff always
    "payment_account.manage": frozenset({ADMIN, OPERATOR}),  # the brand's own accounts at Alipay / WeChat Pay
    # --- the technician's phone ---
    "job.work": frozenset({TECHNICIAN}),  # jobs, check-in/out, evidence, checklist, complete, sync
    # --- the platform's figures ---
    "metrics.view": STAFF,  # the metrics API (tiers decide which merchants have it)
    # --- the admin (staff accounts only) ---
    "admin.view": STAFF,  # the tenant's records, read
    "admin.edit": frozenset({ADMIN, OPERATOR}),  # the tenant's set-up: users, stores, templates
    "admin.manage_orders": STAFF,  # orders, visits and distributions, worked by store staff
    "admin.dashboard": frozenset({ADMIN, OPERATOR}),  # outbound webhook endpoints and their deliveries
    "admin.store_dashboard": STAFF,  # the insights dashboard: each sees its scope's figures (tiers permitting)
    "admin.platform": frozenset({OPERATOR}),  # records only the platform keeps (providers' raw deliveries)
}


def roles(action: str) -> frozenset:
    return RULES[action]


def may(actor, action: str) -> bool:
    """Whether `actor` (None: the system) may take `action` at all."""
    allowed = RULES[action]
    if actor is None:
        return SYSTEM in allowed
    if (getattr(actor, "role", None) or "unknown") in allowed:  # a user without a role is never the system
        return True
    return OPERATOR in allowed and bool(getattr(actor, "is_operator", False))


def require(actor, action: str) -> None:
    """PermissionDeniedError (403) unless `actor` may take `action`."""
    if not may(actor, action):
        raise PermissionDeniedError(_("Your role may not do this."))


class RolePermission(BasePermission):
    """DRF permission from the policy: a view names its action per DRF action in `policy_actions`
    ({"create": "order.create"}), or one `policy_action` for all; views naming none let any signed-in
    user through (their querysets decide what they see). Anonymous callers get 401."""

    message = "Your role may not do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        action = getattr(view, "policy_actions", {}).get(getattr(view, "action", None))
        action = action or getattr(view, "policy_action", None)
        return action is None or may(user, action)
