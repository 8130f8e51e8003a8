from django.utils import translation
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from core.authentication import issue_token, revoke_tokens
from core.language import activate_for
from tenancy import policy
from tenancy.models import Store, User
from tenancy.scoping import ScopedQuerysetMixin
from tenancy.serializers import MeSerializer, StoreSerializer, TechnicianSerializer, TechnicianSkillsSerializer
from tenancy.services import technician_skills_set, user_language_set


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


class MeView(APIView):
    """The caller's own account, and their language (api-contract.md, Language): PATCH `{"language": "en"}` to
    read pages, messages and error details in English, `""` to follow the browser's Accept-Language."""

    @extend_schema(responses=MeSerializer)
    def get(self, request, *args, **kwargs):
        return Response(MeSerializer(request.user).data)

    @extend_schema(request=MeSerializer, responses=MeSerializer)
    def patch(self, request, *args, **kwargs):
        serializer = MeSerializer(request.user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if "language" in serializer.validated_data:
            user = user_language_set(user=request.user, language=serializer.validated_data["language"])
            if user.language:
                activate_for(request._request, user)
            else:  # back to the browser's language for this very answer
                translation.activate(translation.get_language_from_request(request._request))
        return Response(MeSerializer(request.user).data)


class StoreViewSet(
    ScopedQuerysetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The stores the caller works with."""

    queryset = Store.objects.select_related("merchant").prefetch_related("capacities").order_by("pk")
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
