from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import AllowAny
from rest_framework.throttling import ScopedRateThrottle

from core.api import ScopedQuerysetMixin
from tenancy.models import Store, User
from tenancy.serializers import StoreSerializer, TechnicianSerializer


class TokenObtainView(ObtainAuthToken):
    """Exchange a username and password for an API token. Rate-limited per client address."""

    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    @extend_schema(
        request=inline_serializer(
            "TokenRequest", {"username": serializers.CharField(), "password": serializers.CharField()}
        ),
        responses={200: inline_serializer("TokenResponse", {"token": serializers.CharField()})},
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class StoreViewSet(
    ScopedQuerysetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The stores the caller works with."""

    queryset = Store.objects.select_related("merchant").order_by("pk")
    serializer_class = StoreSerializer


class TechnicianViewSet(
    ScopedQuerysetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The technicians of the caller's merchant (a store manager: of its stores)."""

    queryset = (
        User.objects.filter(role=User.Role.TECHNICIAN, is_active=True)
        .prefetch_related("stores")
        .order_by("pk")
    )
    serializer_class = TechnicianSerializer
    filterset_fields = ["stores"]

    def get_queryset(self):
        user = self.request.user
        if user.role == User.Role.TECHNICIAN:
            return self.queryset.filter(pk=user.pk)
        if user.role == User.Role.CONSUMER:
            return self.queryset.none()
        return super().get_queryset()
