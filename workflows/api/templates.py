"""The template API (enterprise tier): drafts, publishing, distribution to stores, the diagram, a sample split."""

from django.db.models import Prefetch
from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.errors import DomainError, NotFound
from core.money import currencies
from core.schema import ProblemResponse, empty_or
from tenancy import policy
from tenancy.models import Store
from tenancy.policy import RolePermission
from tenancy.scoping import ScopedQuerysetMixin, visible_to
from tenancy.tiers import tier_require
from workflows import diagrams, selectors, services
from workflows.api.store_overrides import StoreBoundsSerializer
from workflows.models import TemplateVersion, WorkflowTemplate
from workflows.serializers import (
    DistributeSerializer,
    SplitPreviewSerializer,
    StageDefinitionSerializer,
    TemplatePatchSerializer,
    TemplateSerializer,
    TemplateWriteSerializer,
)

SPLIT_TOTAL_PATTERN = r"^0*([1-9][0-9]{0,11}(\.[0-9]{1,2})?|\.(0[1-9]|[1-9][0-9]?)|0\.(0[1-9]|[1-9][0-9]?))$"



class TemplateViewSet(ScopedQuerysetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Workflow templates of the caller's merchant (enterprise tier: the template API)."""

    queryset = (
        WorkflowTemplate.objects.select_related("merchant")
        .prefetch_related(
            Prefetch("versions", queryset=TemplateVersion.objects.prefetch_related("stages")),
            "distributions__version",
        )
        .order_by("pk")
    )
    serializer_class = TemplateSerializer
    permission_classes = [RolePermission]
    policy_action = "template.view"
    policy_actions = dict.fromkeys(("create", "partial_update", "publish", "distribute"), "template.author")
    http_method_names = ["get", "post", "patch", "put", "head", "options"]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.user.merchant_id is not None:
            tier_require(request.user.merchant, "template_api")

    @extend_schema(request=TemplateWriteSerializer, responses={201: TemplateSerializer})
    def create(self, request):
        data = TemplateWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if request.user.merchant_id is None:
            raise DomainError(_("Only a merchant's admin creates its templates."), code="no_merchant")
        template = services.template_create(merchant=request.user.merchant, actor=request.user, **data.validated_data)
        return Response(
            TemplateSerializer(self.get_queryset().get(pk=template.pk)).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=TemplatePatchSerializer, responses={200: TemplateSerializer})
    def partial_update(self, request, pk=None):
        template = self.get_object()
        data = TemplatePatchSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        if "stages" in data.validated_data:
            # `partial` is for the template's own fields: each stage given is a whole stage, validated in full.
            stages = StageDefinitionSerializer(data=request.data["stages"], many=True)
            if not stages.is_valid():
                raise serializers.ValidationError({"stages": stages.errors})
            data.validated_data["stages"] = stages.validated_data
        services.template_update(template=template, data=data.validated_data, actor=request.user)
        return Response(TemplateSerializer(self.get_queryset().get(pk=template.pk)).data)

    @extend_schema(request=None, responses={200: TemplateSerializer, 400: ProblemResponse, 409: ProblemResponse})
    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        """Validate the draft and freeze it as a new immutable version."""
        template = self.get_object()
        services.template_publish(template=template, actor=request.user)
        return Response(TemplateSerializer(self.get_queryset().get(pk=template.pk)).data)

    @extend_schema(request=DistributeSerializer, responses={200: TemplateSerializer})
    @action(detail=True, methods=["post"])
    def distribute(self, request, pk=None):
        """Make the latest published version available to these stores."""
        template = self.get_object()
        data = DistributeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids = set(data.validated_data["stores"])
        stores = list(visible_to(Store.objects.filter(pk__in=ids), request.user))
        if len(stores) != len(ids):
            raise NotFound(_("No such store."))
        services.template_distribute(template=template, stores=stores, actor=request.user)
        return Response(TemplateSerializer(self.get_queryset().get(pk=template.pk)).data)

    @extend_schema(methods=["GET"], responses={200: StoreBoundsSerializer})
    @extend_schema(methods=["PUT"], request=StoreBoundsSerializer,
                   responses={200: StoreBoundsSerializer, 400: ProblemResponse, 403: ProblemResponse})
    @action(detail=True, methods=["get", "put"], url_path="store-bounds", pagination_class=None, filter_backends=[])
    def store_bounds(self, request, pk=None):
        """What the template's stores may change, and within which bounds (the merchant admin sets them; opening a
        knob needs a tier with store overrides). Stores set their values at /stores/{id}/overrides/{template_id}/."""
        if request.method == "PUT":
            policy.require(request.user, "template.author")  # a role that never authors: 403, as for PATCH
        template = self.get_object()
        if request.method == "PUT":
            data = StoreBoundsSerializer(data=request.data, partial=True)
            data.is_valid(raise_exception=True)
            bounds = services.store_bounds_set(template=template, actor=request.user, **data.validated_data)
            return Response(StoreBoundsSerializer(bounds).data)
        return Response(StoreBoundsSerializer(services.store_bounds_of(template)).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=["svg", "mermaid"], required=False),
            OpenApiParameter("version", empty_or({"type": "integer"}), required=False,
                             description="A version number of this template (empty or absent: its draft, else "
                                         "the latest version)."),
        ],
        responses={(200, "image/svg+xml"): OpenApiTypes.STR, (200, "text/plain"): OpenApiTypes.STR},
    )
    @action(detail=True, methods=["get"])
    def diagram(self, request, pk=None):
        """The workflow as a diagram: SVG in the merchant's words with where the caller's live orders sit (drawn in
        Python, no Graphviz), or `format=mermaid`: the engine's machine as Mermaid text."""
        template = self.get_object()
        if request.query_params.get("format") not in (None, "svg", "mermaid"):
            raise serializers.ValidationError({"format": ["svg or mermaid."]})
        version = diagrams.version_for_diagram(template, request.query_params.get("version"))
        if request.query_params.get("format") == "mermaid":
            return HttpResponse(diagrams.mermaid(version), content_type="text/plain; charset=utf-8")
        counts = selectors.live_orders_by_stage(user=request.user, version=version)
        return HttpResponse(diagrams.svg(version, counts=counts), content_type="image/svg+xml")

    @extend_schema(
        parameters=[
            # A decimal string of at least 0.01 with at most 12 + 2 digits, as SplitPreviewSerializer checks.
            OpenApiParameter("total", {"type": "string", "pattern": SPLIT_TOTAL_PATTERN}, required=True),
            OpenApiParameter("currency", {"type": "string", "enum": currencies()}, description="Default CNY."),
        ],
        responses={
            200: inline_serializer(
                "SplitPreview",
                {
                    "total": serializers.CharField(),
                    "currency": serializers.CharField(),
                    "installments": serializers.ListField(child=serializers.DictField()),
                },
            ),
            400: ProblemResponse,
        },
    )
    @action(detail=True, methods=["get"], url_path="split-preview")
    def split_preview(self, request, pk=None):
        """How a sample total splits into installments under the draft (or latest) version: a fixed amount (a
        deposit) is taken first, the shares split the rest. A total below the fixed amounts answers 400
        `total_below_fixed_payments`, a currency other than theirs 400 `currency_mismatch`."""
        template = self.get_object()
        params = SplitPreviewSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        version = diagrams.version_for_diagram(template, None)
        split = services.template_split(version, params.validated_data["total"], params.validated_data["currency"])
        return Response(
            {
                "total": str(params.validated_data["total"]),
                "currency": params.validated_data["currency"],
                "installments": [
                    {"stage": s.code, "share": None if s.payment_share is None else str(s.payment_share),
                     "fixed_amount": None if s.payment_amount is None else str(a),
                     "timing": s.payment_timing, "amount": str(a)}
                    for s, a in split
                ],
            }
        )
