"""How the consumer's page plugs into the engine (`register()`, called by PortalConfig.ready()): its event kinds,
and the ratings' figures in the platform metrics."""

from __future__ import annotations

from portal import events  # noqa: F401 - declares the page's event kinds
from portal.selectors import rating_figures
from workflows import hooks


def register() -> None:
    hooks.register_order_figure("ratings", rating_figures)
