from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from core.authentication import issue_token, revoke_tokens
from tenancy import policy
from tenancy.models import Store, User
from tenancy.scoping import ScopedQuerysetMixin
from tenancy.serializers import StoreSerializer, TechnicianSerializer, TechnicianSkillsSerializer
from tenancy.services import technician_skills_set


class TokenObtainView(ObtainAuthToken):
    """Exchange a username and password for an API token. Rate-limited per client address.

    The token lasts API_TOKEN_TTL_HOURS (30 days by default); once it has expired, logging in issues a new one.
    """

    # The password is the credential here: a stale `Authorization` header the app still sends (an expired
    # token) must not turn the login that replaces it into a 401.
    authentication_classes = []
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
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response({"token": issue_token(serializer.validated_data["user"]).key})


class LogoutView(APIView):
    """Log out: the caller's API token is deleted and stops working at once (on every device that uses it)."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request, *args, **kwargs):
        revoke_tokens(request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


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

    @extend_schema(methods=["GET"], responses={200: TechnicianSkillsSerializer})
    @extend_schema(methods=["PUT"], request=TechnicianSkillsSerializer, responses={200: TechnicianSkillsSerializer})
    @action(detail=True, methods=["get", "put"], pagination_class=None, filter_backends=[])
    def skills(self, request, pk=None):
        """A technician's skills: which visits they may be given (a stage may require one). Staff set them."""
        technician = self.get_object()
        if request.method == "PUT":
            policy.require(request.user, "technician.skills")
            data = TechnicianSkillsSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            technician = technician_skills_set(technician=technician, skills=data.validated_data["skills"],
                                               actor=request.user)
        return Response({"skills": technician.skills or []})
