"""The schema's view (a module of its own: drf_spectacular.views imports the AutoSchema of core.schema)."""

from django.utils import translation
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView


class SchemaView(SpectacularAPIView):
    """The OpenAPI schema in English (the language of its descriptions and of client code) unless `?lang=` asks
    for another: Django's own field titles would otherwise come in the reader's language, half the schema
    translated. The API's answers themselves are in the caller's language (core/language.py)."""

    @extend_schema(exclude=True)  # the schema does not describe itself (SERVE_INCLUDE_SCHEMA)
    def get(self, request, *args, **kwargs):
        if request.GET.get("lang"):
            return super().get(request, *args, **kwargs)
        with translation.override("en"):
            return super().get(request, *args, **kwargs)
