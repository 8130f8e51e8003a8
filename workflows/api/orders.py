"""Service orders: list, detail (cached per order version and viewer), create, cancel, slots and booking."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.errors import DomainError
from core.filters import IdFilterSet, StoreDayFilter
from core.schema import ProblemResponse
from tenancy.models import Store
from tenancy.policy import RolePermission
from tenancy.scoping import visible_to
from workflows import detail_cache, selectors, services
from workflows.models import ServiceOrder, StageInstance, WorkflowTemplate
from workflows.serializers import (
    AppointmentSerializer,
    BookSerializer,
    OrderCreateSerializer,
    OrderDetailSerializer,
    OrderListSerializer,
    ReasonSerializer,
    SlotSerializer,
)


class OrderFilter(IdFilterSet):
    date = StoreDayFilter(field_name="created_at", help_text="Created on this day (the store's time zone).")

    class Meta:
        model = ServiceOrder
        fields = ["status", "store", "date", "external_ref"]


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

    @extend_schema(request=OrderCreateSerializer, responses={
        201: OrderDetailSerializer,
        200: OpenApiResponse(OrderDetailSerializer, description="The brand's order with this `external_ref` "
                             "already existed: that order, unchanged (nothing else in the body is read)."),
        409: OpenApiResponse(ProblemResponse, description="`external_ref_taken`: the brand's order with this "
                             "`external_ref` is at a store the caller does not work for."),
    })
    def create(self, request):
        data = OrderCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        store = visible_to(Store.objects.all(), request.user).filter(pk=v["store"]).first()
        if store is None:
            raise DomainError(_("No such store."), code="invalid", errors={"store": ["No such store."]})
        template = WorkflowTemplate.objects.filter(pk=v["template"], merchant_id=store.merchant_id).first()
        if template is None:
            raise DomainError(_("No such template."), code="invalid", errors={"template": ["No such template."]})
        outcome = services.order_create_for_contact(
            contact=v["consumer"],
            external_ref=v["external_ref"],
            template=template,
            store=store,
            total_amount=v["total_amount"],
            currency=v["currency"],
            service_address=v["service_address"],
            latitude=v["latitude"],
            longitude=v["longitude"],
            actor=request.user,
        )
        # The brand's order number seen before: its order, as it is now (a retried import makes no second one).
        return self._detail(outcome.order.pk, status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK)

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
        raise DomainError(_("Give the stage id."), code="invalid",
                          errors={"stage": [_("A stage id is required.")]}) from None
    stage = next((s for s in order.stages.all() if s.pk == stage_id), None)
    if stage is None:
        raise DomainError(_("No such stage in this order."), code="invalid", errors={"stage": ["Not in this order."]})
    return stage
