from django.urls import path

from insights.api import PlatformMetricsApi

urlpatterns = [
    path("platform/metrics/", PlatformMetricsApi.as_view(), name="platform-metrics"),
]
