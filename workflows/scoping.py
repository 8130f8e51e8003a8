"""Tenant scoping arguments shared by the workflow rows and the apps built on them."""


def seen_through_visits(path: str) -> dict:
    """TenantScope arguments for rows a technician sees through the visits at `path` (Appointment rows): theirs,
    but not a cancelled one. A visit moved to a colleague, or cancelled with its order, no longer shows the
    consumer's order, stages, files or vouchers to the technician who was to go (a visit done, or missed, does)."""
    return {"technician": f"{path}__technician",
            "technician_where": ((f"{path}__state__in", ("booked", "checked_in", "checked_out", "no_show")),)}
