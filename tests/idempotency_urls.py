"""A test-only urlconf: unsafe endpoints whose effects can be counted (one Merchant row per run)."""

import hashlib
import time
import uuid

from django.urls import path
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
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


class UploadEchoView(APIView):
    """Counts one run and answers what DRF parsed: the fields and, per file, its name, type, size and hash."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def post(self, request):
        Merchant.objects.create(name="upload", slug=uuid.uuid4().hex)
        files = {
            field: [{"name": f.name, "content_type": f.content_type, "size": f.size,
                     "sha256": hashlib.sha256(f.read()).hexdigest(), "class": type(f).__name__}
                    for f in request.FILES.getlist(field)]
            for field in request.FILES
        }
        is_json = request.content_type.startswith("application/json")
        fields = request.data if is_json else {name: request.POST.getlist(name) for name in request.POST}
        return Response({"run": Merchant.objects.count(), "fields": fields, "files": files}, status=201)


urlpatterns = [
    path("api/v1/test-upload/", UploadEchoView.as_view()),
    path("api/v1/test-echo/", EchoView.as_view()),
    path("api/v1/test-echo-2/", EchoView.as_view()),
]
