from django.urls import path

from payments.pages import sandbox_checkout

urlpatterns = [
    path("sandbox/checkout/<str:token>/", sandbox_checkout, name="sandbox-checkout"),
]
