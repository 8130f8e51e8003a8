"""The product's URLs plus `bench/ping/`: a minimal DRF endpoint that reads one row.

Only the benchmark server uses this urlconf (bench/settings.py); the product's URLs are untouched."""

from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

from tenancy.models import Store


class PingApi(APIView):
    """The ceiling for an API request: same middleware, authentication and renderer, one row read."""

    def get(self, request):
        store = Store.objects.only("pk", "name").order_by("pk").first()
        return Response({"id": store.pk, "name": store.name})


urlpatterns = [
    path("bench/ping/", PingApi.as_view(), name="bench-ping"),
    path("", include("config.urls")),
]
