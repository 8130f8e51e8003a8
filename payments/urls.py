from django.urls import path
from rest_framework.routers import SimpleRouter

from payments.api import InstallmentViewSet, PaymentViewSet, WebhookView
from payments.notify import AlipayNotifyView, WeChatPayNotifyView
from payments.revisions_api import OrderRevisionViewSet, RevisionViewSet

router = SimpleRouter()
router.register("installments", InstallmentViewSet, basename="installment")
router.register("payments", PaymentViewSet, basename="payment")
router.register("revisions", RevisionViewSet, basename="revision")

urlpatterns = [
    path("payments/webhooks/<str:provider>/", WebhookView.as_view(), name="payment-webhook"),
    # The account id is read by the view (any text: a provider's format answers even for a malformed one).
    path("payments/notify/alipay/<str:account_id>/", AlipayNotifyView.as_view(), name="payment-notify-alipay"),
    path("payments/notify/wechatpay/<str:account_id>/", WeChatPayNotifyView.as_view(),
         name="payment-notify-wechatpay"),
    path("orders/<int:id>/revisions/", OrderRevisionViewSet.as_view({"get": "list", "post": "create"}),
         name="order-revisions"),
    *router.urls,
]
