"""Merchant-facing admin of the workflows app (importing the modules registers their ModelAdmins)."""

from workflows.admin import orders, templates  # noqa: F401
