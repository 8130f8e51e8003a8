from django.urls import path
from rest_framework.routers import SimpleRouter

from workflows.api import AppointmentViewSet, OrderViewSet, StageFileApi, StageViewSet, TemplateViewSet

router = SimpleRouter()
router.register("templates", TemplateViewSet, basename="template")
router.register("orders", OrderViewSet, basename="order")
router.register("appointments", AppointmentViewSet, basename="appointment")
router.register("stages", StageViewSet, basename="stage")

urlpatterns = [
    *router.urls,
    # A file of a stage's submission, for whoever may see the order (the stage's submission_files link here).
    path("stages/<int:id>/files/<int:file_id>/", StageFileApi.as_view(), name="stage-file"),
]
