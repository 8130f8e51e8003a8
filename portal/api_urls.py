"""The portal's API paths, under /api/v1/ (config/urls.py)."""

from django.urls import path

from portal.api import OrderRatingApi

urlpatterns = [
    path("orders/<int:id>/rating/", OrderRatingApi.as_view(), name="order-rating"),
]
