from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.views import SpectacularSwaggerSplitView

from core.schema_views import SchemaView
from tenancy.api import LogoutView, MeView, TokenObtainView

api_v1 = [
    path("auth/token/", TokenObtainView.as_view(), name="api-token"),
    path("auth/logout/", LogoutView.as_view(), name="api-logout"),
    path("auth/me/", MeView.as_view(), name="api-me"),
    path("", include("tenancy.urls")),
    path("", include("workflows.urls")),
    path("", include("payments.urls")),
    path("", include("vouchers.urls")),
    path("", include("fieldwork.urls")),
    path("", include("notifications.urls")),
    path("", include("insights.urls")),
    path("", include("portal.api_urls")),
]

# The admin's own title, instead of Django's "Django administration" (translated: docs/i18n.md).
admin.site.site_header = _("Service fulfilment admin")
admin.site.site_title = _("Service fulfilment admin")

urlpatterns = [
    path("", include("workflows.page_urls")),
    path("", include("payments.page_urls")),
    path("", include("portal.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    # The split view serves the Swagger UI's init script from ?script (no inline script, for the CSP).
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="core/swagger_ui.html"),
        name="api-docs",
    ),
]

# An unmatched /api/ URL answers JSON {"code", "detail"} like every other API error.
handler404 = "core.api.not_found"

# A database outage outside a DRF view (middleware) answers /api/ callers a JSON 503, not an HTML 500.
handler500 = "core.handlers.server_error"
