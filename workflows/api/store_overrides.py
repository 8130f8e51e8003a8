"""A store's own values for a template it was given (二次开发, bounded): read them with the brand's bounds, and set
them within those bounds (store manager of the store, or the brand's admin)."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFound
from core.schema import ProblemResponse
from tenancy import policy
from tenancy.scoping import visible_to
from tenancy.tiers import tier_allows
from workflows import services
from workflows.models import StoreBounds, TemplateDistribution
from workflows.services.store_bounds import BOUND_FIELDS
from workflows.store_values import CHECKLIST_ITEM_LENGTH, CHECKLIST_MAX_ITEMS

BIG = 10**6  # far past every bound: the bounds themselves answer with their own message


class StoreBoundsSerializer(serializers.ModelSerializer):
    class Meta:
        model = StoreBounds
        fields = list(BOUND_FIELDS)


class StoreOverridesSerializer(serializers.Serializer):
    appointment_minutes = serializers.DictField(
        child=serializers.IntegerField(min_value=0, max_value=BIG), required=False,
        help_text="{stage code: minutes} for on-site stages, within the brand's appointment bounds.")
    sla_hours = serializers.DictField(
        child=serializers.IntegerField(min_value=0, max_value=BIG), required=False,
        help_text="{stage code: hours}: tighter only, at most the template's SLA of that stage.")
    reminder_lead_hours = serializers.IntegerField(
        min_value=0, max_value=BIG, allow_null=True, required=False,
        help_text="How long before a visit the consumer is reminded, within the brand's bounds; null: 24 hours.")
    extra_checklist = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField(max_length=CHECKLIST_ITEM_LENGTH),
                                    max_length=CHECKLIST_MAX_ITEMS),
        required=False, help_text="{stage code: [items]} added after the on-site stage's own checklist.")


class StoreOverridesResponse(StoreOverridesSerializer):
    store = serializers.IntegerField()
    template = serializers.IntegerField()
    version = serializers.IntegerField()
    bounds = StoreBoundsSerializer(help_text="What the brand lets its stores change, and within which bounds.")
    allowed_by_tier = serializers.BooleanField()


class StoreOverridesApi(APIView):
    """A store's values for the knobs its brand opened on this template. A value past a bound answers 400 naming
    the bound; a tier without store overrides answers 403 on PUT."""

    def _distribution(self, request, id: int, template_id: int) -> TemplateDistribution:
        qs = TemplateDistribution.objects.filter(store_id=id, template_id=template_id)
        dist = visible_to(qs, request.user).select_related("template__merchant", "version").first()
        if dist is None:
            raise NotFound(_("This store was not given this workflow."))
        return dist

    def _answer(self, dist: TemplateDistribution) -> Response:
        bounds = services.store_bounds_of(dist.template)
        return Response({"store": dist.store_id, "template": dist.template_id, "version": dist.version_id,
                         **services.store_overrides_of(dist), "bounds": StoreBoundsSerializer(bounds).data,
                         "allowed_by_tier": tier_allows(dist.template.merchant, "store_overrides")})

    @extend_schema(responses={200: StoreOverridesResponse, 404: ProblemResponse})
    def get(self, request, id: int, template_id: int):
        return self._answer(self._distribution(request, id, template_id))

    @extend_schema(request=StoreOverridesSerializer,
                   responses={200: StoreOverridesResponse, 400: ProblemResponse, 403: ProblemResponse,
                              404: ProblemResponse})
    def put(self, request, id: int, template_id: int):
        dist = self._distribution(request, id, template_id)
        policy.require(request.user, "store.overrides")
        data = StoreOverridesSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dist = services.store_overrides_set(distribution=dist, actor=request.user, **data.validated_data)
        return self._answer(dist)
