"""A test-only urlconf: unsafe endpoints whose effects can be counted (one Merchant row per run)."""

import time
import uuid

from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from tenancy.models import Merchant

# Tests flip these to make the endpoints misbehave.
behaviour = {"status": 201, "raise": False, "sleep": 0.0}


class EchoView(APIView):
    def post(self, request):
        if behaviour["sleep"]:
            time.sleep(behaviour["sleep"])
        merchant = Merchant.objects.create(name=str(request.data.get("name", "echo")), slug=uuid.uuid4().hex)
        if behaviour["raise"]:
            raise RuntimeError("boom")
        return Response({"id": merchant.pk, "name": merchant.name}, status=behaviour["status"])


urlpatterns = [
    path("api/v1/test-echo/", EchoView.as_view()),
    path("api/v1/test-echo-2/", EchoView.as_view()),
]
