"""Thin API views: validate input, call one service, serialize the result."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from core.api import AttachmentApi
from core.errors import DomainError, NotFound
from core.filters import IdFilterSet, StoreDayFilter
from core.money import allocate, currencies
from core.schema import attachment_schema, empty_or
from tenancy.models import Store, User
from tenancy.policy import RolePermission
from tenancy.scoping import ScopedQuerysetMixin, visible_to
from tenancy.tiers import tier_require
from workflows import detail_cache, diagrams, selectors, services
from workflows.models import Appointment, ServiceOrder, StageInstance, TemplateVersion, WorkflowTemplate
from workflows.serializers import (
    AppointmentSerializer,
    AssignSerializer,
    BookSerializer,
    DistributeSerializer,
    NoteSerializer,
    OrderCreateSerializer,
    OrderDetailSerializer,
    OrderListSerializer,
    ReasonSerializer,
    RescheduleSerializer,
    SlotSerializer,
    SplitPreviewSerializer,
    StageDefinitionSerializer,
    StageInstanceSerializer,
    SubmitSerializer,
    TemplatePatchSerializer,
    TemplateSerializer,
    TemplateWriteSerializer,
)

Role = User.Role
STAFF = (Role.MERCHANT_ADMIN, Role.STORE_MANAGER, Role.PLATFORM_OPERATOR)
SPLIT_TOTAL_PATTERN = r"^0*([1-9][0-9]{0,11}(\.[0-9]{1,2})?|\.(0[1-9]|[1-9][0-9]?)|0\.(0[1-9]|[1-9][0-9]?))$"
ProblemResponse = inline_serializer("Problem", {"code": serializers.CharField(), "detail": serializers.CharField()})


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
    http_method_names = ["get", "post", "patch", "head", "options"]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.user.merchant_id is not None:
            tier_require(request.user.merchant, "template_api")

    @extend_schema(request=TemplateWriteSerializer, responses={201: TemplateSerializer})
    def create(self, request):
        data = TemplateWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if request.user.merchant_id is None:
            raise DomainError("Only a merchant's admin creates its templates.", code="no_merchant")
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
            raise NotFound("No such store.")
        services.template_distribute(template=template, stores=stores, actor=request.user)
        return Response(TemplateSerializer(self.get_queryset().get(pk=template.pk)).data)

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
        """The workflow as a state diagram, drawn from the engine's own machine definition."""
        template = self.get_object()
        if request.query_params.get("format") not in (None, "svg", "mermaid"):
            raise serializers.ValidationError({"format": ["svg or mermaid."]})
        version = diagrams.version_for_diagram(template, request.query_params.get("version"))
        if request.query_params.get("format") == "mermaid":
            return HttpResponse(diagrams.mermaid(version), content_type="text/plain; charset=utf-8")
        return HttpResponse(diagrams.svg(version), content_type="image/svg+xml")

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
            )
        },
    )
    @action(detail=True, methods=["get"], url_path="split-preview")
    def split_preview(self, request, pk=None):
        """How a sample total splits into installments under the draft (or latest) version."""
        template = self.get_object()
        params = SplitPreviewSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        version = diagrams.version_for_diagram(template, None)
        stages = [s for s in version.stages.order_by("position") if s.carries_payment]
        amounts = allocate(
            params.validated_data["total"], [s.payment_share for s in stages], params.validated_data["currency"]
        )
        return Response(
            {
                "total": str(params.validated_data["total"]),
                "currency": params.validated_data["currency"],
                "installments": [
                    {"stage": s.code, "share": str(s.payment_share), "timing": s.payment_timing, "amount": str(a)}
                    for s, a in zip(stages, amounts, strict=True)
                ],
            }
        )


class OrderFilter(IdFilterSet):
    date = StoreDayFilter(field_name="created_at", help_text="Created on this day (the store's time zone).")

    class Meta:
        model = ServiceOrder
        fields = ["status", "store", "date"]


class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Service orders: staff see their stores' orders, consumers their own, technicians those they work on."""

    permission_classes = [RolePermission]
    policy_actions = {"create": "order.create", "cancel": "cancel", "appointments": "book"}
    filterset_class = OrderFilter

    def get_queryset(self):
        if self.action == "list":
            return selectors.order_list_visible_to(user=self.request.user)
        # The actions on one order (cancel, slots, book) pick its stages from order.stages.all().
        return selectors.order_list_visible_to(user=self.request.user).prefetch_related(
            Prefetch("stages", queryset=StageInstance.objects.select_related("definition").order_by("position"))
        )

    def get_serializer_class(self):
        return OrderListSerializer if self.action == "list" else OrderDetailSerializer

    def _detail(self, order_id, http_status=status.HTTP_200_OK):
        order = selectors.order_detail_queryset(user=self.request.user).get(pk=order_id)
        return Response(OrderDetailSerializer(order, context={"request": self.request}).data, status=http_status)

    @extend_schema(responses={200: OrderDetailSerializer, 304: None})
    def retrieve(self, request, pk=None):
        """One order with everything the consumer app shows. Answers If-None-Match with 304 when
        the client's copy (its ETag) is still current: the detail is cached per order version."""
        # The list's filters apply to the detail too (as get_object would apply them).
        narrowed = self.filter_queryset(ServiceOrder.objects.all()) if request.query_params else None
        try:
            detail = detail_cache.order_detail(user=request.user, order_id=pk, request=request, queryset=narrowed)
        except (TypeError, ValueError, DjangoValidationError):
            detail = None  # not an id (what get_object_or_404 answers with 404)
        if detail is None:
            raise Http404
        headers = {"ETag": detail.etag}
        if detail.matches(request.headers.get("If-None-Match")):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(detail.data, headers=headers)

    @extend_schema(request=OrderCreateSerializer, responses={201: OrderDetailSerializer})
    def create(self, request):
        data = OrderCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        store = visible_to(Store.objects.all(), request.user).filter(pk=v["store"]).first()
        if store is None:
            raise DomainError("No such store.", code="invalid", errors={"store": ["No such store."]})
        template = WorkflowTemplate.objects.filter(pk=v["template"], merchant_id=store.merchant_id).first()
        if template is None:
            raise DomainError("No such template.", code="invalid", errors={"template": ["No such template."]})
        order = services.order_create_for_contact(
            contact=v["consumer"],
            template=template,
            store=store,
            total_amount=v["total_amount"],
            currency=v["currency"],
            service_address=v["service_address"],
            latitude=v["latitude"],
            longitude=v["longitude"],
            actor=request.user,
        )
        return self._detail(order.pk, status.HTTP_201_CREATED)

    @extend_schema(request=ReasonSerializer, responses={200: OrderDetailSerializer, 409: ProblemResponse})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        order = self.get_object()
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.order_cancel(order=order, actor=request.user, reason=data.validated_data["reason"])
        return self._detail(order.pk)

    @extend_schema(
        parameters=[OpenApiParameter("stage", int, required=True)], responses={200: SlotSerializer(many=True)}
    )
    @action(detail=True, methods=["get"], pagination_class=None)  # a plain list, not a page
    def slots(self, request, pk=None):
        """Bookable windows for an on-site stage of this order: from now up to the booking horizon (the store's
        closing time APPOINTMENT_BOOKING_HORIZON_DAYS, 14, days after today), and only windows that end before
        the stage's e-voucher expires."""
        order = self.get_object()
        stage = _stage_param(order, request.query_params.get("stage"))
        slots = services.appointment_slots(stage=stage)
        return Response(SlotSerializer(slots, many=True).data)

    @extend_schema(request=BookSerializer, responses={201: AppointmentSerializer, 409: ProblemResponse})
    @action(detail=True, methods=["post"])
    def appointments(self, request, pk=None):
        """Book a visit for the order's current on-site stage. `window_start` must start one of the slots: a
        window off the store's grid, in the past, beyond the booking horizon or ending after the stage's
        e-voucher expires answers 400 `invalid_window` with the reason under `errors.window_start`."""
        order = self.get_object()
        data = BookSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        stage = _stage_param(order, data.validated_data["stage"])
        appt = services.appointment_book(
            stage=stage, window_start=data.validated_data["window_start"], actor=request.user
        )
        return Response(AppointmentSerializer(appt).data, status=status.HTTP_201_CREATED)


def _stage_param(order, stage_id) -> StageInstance:
    try:
        stage_id = int(stage_id)
    except (TypeError, ValueError):
        raise DomainError("Give the stage id.", code="invalid", errors={"stage": ["A stage id is required."]}) from None
    stage = next((s for s in order.stages.all() if s.pk == stage_id), None)
    if stage is None:
        raise DomainError("No such stage in this order.", code="invalid", errors={"stage": ["Not in this order."]})
    return stage


class AppointmentFilter(IdFilterSet):
    date = StoreDayFilter(field_name="window_start", help_text="Visits starting on this day (the store's time zone).")

    class Meta:
        model = Appointment
        fields = ["order", "store", "state", "technician", "date"]


class AppointmentViewSet(
    ScopedQuerysetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    queryset = Appointment.objects.select_related("technician").order_by("window_start", "pk")
    serializer_class = AppointmentSerializer
    permission_classes = [RolePermission]
    policy_actions = {"assign": "appointment.assign", "reschedule": "reschedule"}
    filterset_class = AppointmentFilter

    @extend_schema(request=AssignSerializer, responses={200: AppointmentSerializer, 409: ProblemResponse})
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        appt = self.get_object()
        data = AssignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        technician = (
            visible_to(User.objects.filter(role=Role.TECHNICIAN), request.user)
            .filter(pk=data.validated_data["technician"])
            .first()
        )
        if technician is None:
            raise DomainError("No such technician.", code="invalid", errors={"technician": ["No such technician."]})
        appt = services.appointment_assign(appointment=appt, technician=technician, actor=request.user)
        return Response(AppointmentSerializer(appt).data)

    @extend_schema(request=RescheduleSerializer, responses={201: AppointmentSerializer, 409: ProblemResponse})
    @action(detail=True, methods=["post"])
    def reschedule(self, request, pk=None):
        """Move a booked visit to another window (the same rules as booking: 400 `invalid_window`), or rebook a
        visit nobody came to (`no_show`): it stays as the record of the missed visit and a new one is booked
        beside it, once. A consumer may move one visit APPOINTMENT_MAX_RESCHEDULES (3) times, then 409
        `reschedule_limit`; store staff may still move it. Rebooking a missed visit counts no move."""
        appt = self.get_object()
        data = RescheduleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        new = services.appointment_reschedule(
            appointment=appt, window_start=data.validated_data["window_start"], actor=request.user
        )
        return Response(AppointmentSerializer(new).data, status=status.HTTP_201_CREATED)


class StageViewSet(ScopedQuerysetMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Stage actions. Off-site work is submitted by store staff; the consumer approves or rejects."""

    queryset = StageInstance.objects.select_related("definition", "order").prefetch_related("submission_files")
    serializer_class = StageInstanceSerializer
    permission_classes = [RolePermission]
    policy_actions = {"submit": "stage.submit", "start": "stage.start_offsite", "resume": "resume",
                      "approve": "approve", "reject": "reject"}

    def _stage_response(self, stage):
        stage = self.get_queryset().get(pk=stage.pk)
        return Response(StageInstanceSerializer(stage).data)

    @extend_schema(request={"multipart/form-data": SubmitSerializer}, responses={200: StageInstanceSerializer})
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser, FormParser, JSONParser])
    def submit(self, request, pk=None):
        """Deliver the work of an off-site stage (e.g. the design draft); it then waits for approval."""
        stage = self.get_object()
        files = request.FILES.getlist("file") if hasattr(request, "FILES") else []
        data = SubmitSerializer(data={"notes": request.data.get("notes", ""), "file": files})
        data.is_valid(raise_exception=True)
        services.stage_submit(
            stage=stage, actor=request.user, notes=data.validated_data["notes"], files=data.validated_data["file"]
        )
        return self._stage_response(stage)

    @extend_schema(request=None, responses={200: StageInstanceSerializer})
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        """Store staff start work on an off-site stage."""
        stage = self.get_object()
        services.stage_start(stage=stage, actor=request.user)
        return self._stage_response(stage)

    @extend_schema(request=None, responses={200: StageInstanceSerializer, 409: ProblemResponse})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        stage = self.get_object()
        services.stage_approve(stage=stage, actor=request.user)
        return self._stage_response(stage)

    @extend_schema(request=ReasonSerializer, responses={200: StageInstanceSerializer, 409: ProblemResponse})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        stage = self.get_object()
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.stage_reject(stage=stage, actor=request.user, reason=data.validated_data["reason"])
        return self._stage_response(stage)

    @extend_schema(request=NoteSerializer, responses={200: StageInstanceSerializer, 409: ProblemResponse})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Store staff take an escalated stage back into work."""
        stage = self.get_object()
        data = NoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.stage_resume(stage=stage, actor=request.user, note=data.validated_data["note"])
        return self._stage_response(stage)


@attachment_schema(
    parameters=[
        OpenApiParameter("id", int, OpenApiParameter.PATH, description="The stage's id."),
        OpenApiParameter("file_id", int, OpenApiParameter.PATH,
                         description="The file's id (from the stage's `submission_files`)."),
    ],
    content_types=services.SUBMISSION_STORED_TYPES,
    not_found="No such stage or file visible to you, or its file is missing from storage.",
)
class StageFileApi(AttachmentApi):
    """A file store staff attached to a stage (e.g. the design draft the consumer is asked to approve), as
    stored (its type detected from the bytes at upload), always as an attachment named by the server. For
    whoever may see the order's detail; 404 for anyone else, for a file of another stage, or for a file missing
    from storage."""

    def stored_file(self, user, *, id: int, file_id: int):
        row = selectors.stage_submission_file_get(user=user, stage_id=id, file_id=file_id)
        return selectors.stage_submission_file_open(row), f"submission-{row.pk}.{row.extension}", row.content_type
