from rest_framework.routers import SimpleRouter

from workflows.api import AppointmentViewSet, OrderViewSet, StageViewSet, TemplateViewSet

router = SimpleRouter()
router.register("templates", TemplateViewSet, basename="template")
router.register("orders", OrderViewSet, basename="order")
router.register("appointments", AppointmentViewSet, basename="appointment")
router.register("stages", StageViewSet, basename="stage")

urlpatterns = router.urls
