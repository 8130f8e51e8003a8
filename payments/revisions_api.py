"""Price revisions (增减项) API: staff propose one for an order and list them; the order's consumer accepts or
declines. Thin views: the rules are in payments/services/revisions.py, who may act in tenancy/policy.py."""

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.fields import StrictCharField, StrictDecimalField
from core.money import quantize
from core.schema import ErrorSerializer
from payments import services
from payments.models import PriceRevision
from tenancy.policy import RolePermission
from tenancy.scoping import ScopedQuerysetMixin, visible_to
from workflows.models import ServiceOrder

_AMOUNT = {"max_digits": 14, "decimal_places": 2}


class RevisionLineSerializer(serializers.Serializer):
    description = StrictCharField(max_length=200)
    amount = StrictDecimalField(**_AMOUNT, help_text="Signed: positive for an added item (增项), negative for a "
                                                     "removed one (减项).")


class RevisionInputSerializer(serializers.Serializer):
    total_amount = StrictDecimalField(**_AMOUNT, help_text="The order's new total.")
    reason = StrictCharField(max_length=300)
    lines = RevisionLineSerializer(many=True, help_text="The items that explain the change: their amounts add up "
                                                        "to the new total minus the current total.")


class SplitRowSerializer(serializers.Serializer):
    installment = serializers.IntegerField()
    stage = serializers.IntegerField()
    stage_code = serializers.CharField()
    state = serializers.CharField()
    amount = serializers.DecimalField(**_AMOUNT, help_text="Now.")
    new_amount = serializers.DecimalField(**_AMOUNT, help_text="Once the revision is accepted.")
    currency = serializers.CharField()


class RevisionSerializer(serializers.ModelSerializer):
    old_total = serializers.SerializerMethodField()
    new_total = serializers.SerializerMethodField()
    refund_amount = serializers.SerializerMethodField()
    lines = RevisionLineSerializer(many=True, read_only=True)
    split = serializers.SerializerMethodField(help_text=(
        "While the revision is open: every installment of the order now and as it would be once accepted (paid "
        "ones unchanged, unpaid ones re-split by the template's shares); null once answered."))

    class Meta:
        model = PriceRevision
        fields = ["id", "order", "status", "old_total", "new_total", "currency", "reason", "lines", "refund_amount",
                  "created_at", "answered_at", "split"]
        read_only_fields = fields

    def get_old_total(self, rev) -> str:
        return str(quantize(rev.old_total, rev.currency))

    def get_new_total(self, rev) -> str:
        return str(quantize(rev.new_total, rev.currency))

    def get_refund_amount(self, rev) -> str:
        return str(quantize(rev.refund_amount, rev.currency))

    @extend_schema_field(SplitRowSerializer(many=True, allow_null=True))
    def get_split(self, rev):
        if rev.status != PriceRevision.Status.OPEN:
            return None
        return services.revision_preview(rev)


_ERRORS = {400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}


class OrderRevisionViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The price revisions of one order (`/orders/{id}/revisions/`)."""

    serializer_class = RevisionSerializer
    permission_classes = [RolePermission]
    policy_actions = {"list": "revision.view", "create": "revision.propose"}

    def _order(self) -> ServiceOrder:
        order = visible_to(ServiceOrder.objects.all(), self.request.user).filter(
            pk=self.kwargs["id"]).first()
        if order is None:
            raise Http404
        return order

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PriceRevision.objects.none()
        return visible_to(PriceRevision.objects.all(), self.request.user).filter(order=self._order())

    def list(self, request, *args, **kwargs):
        """The order's price revisions, newest first (staff of its store or brand, its consumer)."""
        return super().list(request, *args, **kwargs)

    @extend_schema(request=RevisionInputSerializer, responses={
        201: OpenApiResponse(RevisionSerializer, description="The open revision, with the split it would make."),
        **_ERRORS,
        409: OpenApiResponse(ErrorSerializer, description=(
            "`revision_open` (another waits for the consumer), `nothing_to_revise` (every installment is paid), "
            "`invalid_transition` (the order is cancelled or completed).")),
    })
    def create(self, request, *args, **kwargs):
        """Propose a price revision (增减项): the new total, why, and the items that explain the change (their
        amounts add up to the new total minus the current total: 400 `lines_mismatch` otherwise). The consumer is
        told and accepts or declines it."""
        order = self._order()
        data = RevisionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        revision = services.revision_propose(order=order, actor=request.user, total_amount=v["total_amount"],
                                             reason=v["reason"], lines=[dict(line) for line in v["lines"]])
        return Response(RevisionSerializer(revision).data, status=status.HTTP_201_CREATED)


class RevisionViewSet(ScopedQuerysetMixin, viewsets.GenericViewSet):
    """The consumer's answer to a price revision."""

    queryset = PriceRevision.objects.all()
    serializer_class = RevisionSerializer
    permission_classes = [RolePermission]
    policy_actions = {"accept": "revision.answer", "decline": "revision.answer"}

    @extend_schema(request=None, responses={200: RevisionSerializer, **_ERRORS, 409: OpenApiResponse(
        ErrorSerializer, description=(
            "`invalid_transition` (already answered, or the order is cancelled or completed), `payment_in_progress` "
            "(a payment attempt is open: accept once it is finished or expired), `nothing_to_revise`."))})
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        """Accept the new total: the unpaid installments are re-split over what is left to pay, by the template's
        shares; paid ones stay as they are; what was paid beyond the new total is refunded."""
        revision = services.revision_accept(revision=self.get_object(), actor=request.user)
        return Response(RevisionSerializer(revision).data)

    @extend_schema(request=None, responses={200: RevisionSerializer, **_ERRORS, 409: OpenApiResponse(
        ErrorSerializer, description="`invalid_transition`: already answered.")})
    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        """Decline: the order keeps its total."""
        revision = services.revision_decline(revision=self.get_object(), actor=request.user)
        return Response(RevisionSerializer(revision).data)
