from django.urls import path
from rest_framework.routers import SimpleRouter

from vouchers.api import RedeemApi, VoucherViewSet

router = SimpleRouter()
router.register("vouchers", VoucherViewSet, basename="voucher")

urlpatterns = [
    path("vouchers/redeem/", RedeemApi.as_view(), name="voucher-redeem"),
    *router.urls,
]
