"""The consumer's page, at the site root."""

from django.urls import path

from portal import views

urlpatterns = [
    path("track/<str:token>/", views.tracking_page, name="tracking-page"),
    path("track/<str:token>/pay/<int:installment_id>/", views.tracking_pay, name="tracking-pay"),
]
