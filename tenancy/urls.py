from rest_framework.routers import SimpleRouter

from tenancy.api import StoreViewSet, TechnicianViewSet

router = SimpleRouter()
router.register("stores", StoreViewSet, basename="store")
router.register("technicians", TechnicianViewSet, basename="technician")

urlpatterns = router.urls
