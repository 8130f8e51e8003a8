"""The product's URLs plus the benchmark's reference endpoints:

- `bench/ping/`: a minimal DRF endpoint that reads one row;
- `bench/replay/detail/<order id>/` and `bench/replay/check-in/<job id>/`: the statements the product sent for one
  order detail built from the database and for one first check-in (recorded by bench/run.py, file in
  `BENCH_REPLAY_PLANS`), re-aimed at this order or visit and sent with psycopg on the worker's connection; they
  answer the recorded body. Same middleware, token authentication and permission as the product: what an
  endpoint doing exactly that SQL and nothing else in Python would cost.

Only the benchmark server uses this urlconf (bench/settings.py); the product's URLs are untouched."""

import os
import pickle
import uuid
from functools import cache

from django.db import connection
from django.http import Http404, HttpResponse
from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.replay import replay
from tenancy.models import Store


class PingApi(APIView):
    """The ceiling for an API request: same middleware, authentication and renderer, one row read."""

    def get(self, request):
        store = Store.objects.only("pk", "name").order_by("pk").first()
        return Response({"id": store.pk, "name": store.name})


@cache
def _plans() -> dict:
    # Written by bench/run.py for this very server (a file of its own run, never user input).
    with open(os.environ["BENCH_REPLAY_PLANS"], "rb") as f:
        return pickle.load(f)  # noqa: S301


class ReplayApi(APIView):
    """One recorded request's statements (but the token lookup, which authentication does here as for the ping),
    for another order in the same state; answers the recorded status and body."""

    def dispatch_replay(self, kind: str, key: int) -> HttpResponse:
        plan = _plans()[kind]
        if key not in plan["maps"]:
            raise Http404
        mapping = {**plan["maps"][key], **{u: uuid.uuid4() for u in plan["uuids"]}}
        connection.ensure_connection()
        replay(connection.connection, plan["statements"], mapping)
        return HttpResponse(plan["body"], status=plan["status"], content_type="application/json")

    def get(self, request, kind, key):
        return self.dispatch_replay(kind, key)

    def post(self, request, kind, key):
        return self.dispatch_replay(kind, key)


urlpatterns = [
    path("bench/ping/", PingApi.as_view(), name="bench-ping"),
    path("bench/replay/<str:kind>/<int:key>/", ReplayApi.as_view(), name="bench-replay"),
    path("", include("config.urls")),
]
