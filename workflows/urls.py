from django.urls import path
from rest_framework.routers import SimpleRouter

from workflows.api import (
    AppointmentViewSet,
    OrderViewSet,
    StageFileApi,
    StageViewSet,
    StoreOverridesApi,
    TemplateViewSet,
)

router = SimpleRouter()
router.register("templates", TemplateViewSet, basename="template")
router.register("orders", OrderViewSet, basename="order")
router.register("appointments", AppointmentViewSet, basename="appointment")
router.register("stages", StageViewSet, basename="stage")

urlpatterns = [
    *router.urls,
    # A file of a stage's submission, for whoever may see the order (the stage's submission_files link here).
    path("stages/<int:id>/files/<int:file_id>/", StageFileApi.as_view(), name="stage-file"),
    # A store's own values for a template it was given, within its brand's bounds (workflows.store_values).
    path("stores/<int:id>/overrides/<int:template_id>/", StoreOverridesApi.as_view(), name="store-overrides"),
]
