"""HTML pages of the notifications app, at the site root: the consumer's tracking page."""

from django.urls import path

from notifications import tracking

urlpatterns = [
    path("track/<str:token>/", tracking.tracking_page, name="tracking-page"),
    path("track/<str:token>/pay/<int:installment_id>/", tracking.tracking_pay, name="tracking-pay"),
]
