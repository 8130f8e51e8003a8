"""How the consumer's page plugs into the engine (`register()`, called by PortalConfig.ready()): its event kinds,
the ratings' figures in the platform metrics, and the low ratings on the store's day."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from portal import events  # noqa: F401 - declares the page's event kinds
from portal.selectors import low_rated_orders, rating_figures
from workflows import hooks


def register() -> None:
    hooks.register_order_figure("ratings", rating_figures)
    hooks.register_day_list("low_ratings", heading=_("Low ratings (1-2 stars), to follow up"), load=low_rated_orders)
