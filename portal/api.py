"""The consumer's rating through the API (`POST /api/v1/orders/{id}/rating/`), for consumer apps: the same service
as the tracking page's form (portal.services.ratings), with the order's consumer's token instead of a verified
device. Thin: the rules (completed orders only, 1-5 stars, the visits that may be rated, 7 days to change it) are
the service's; who may rate is the policy's (`order.rate`: consumers); which order, the scope's (404)."""

from datetime import timedelta

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.fields import StrictCharField
from core.schema import ErrorSerializer
from portal.conf import setting
from portal.services import ratings
from tenancy.policy import RolePermission
from tenancy.scoping import visible_to
from workflows.models import ServiceOrder


class VisitScoreSerializer(serializers.Serializer):
    appointment = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="One of the order's "
                                           "finished on-site visits.")
    score = serializers.IntegerField(min_value=1, max_value=5, help_text="Stars for that visit's technician.")


class RatingInputSerializer(serializers.Serializer):
    score = serializers.IntegerField(min_value=1, max_value=5, help_text="Stars for the whole service, 1-5.")
    comment = StrictCharField(max_length=1000, required=False, allow_blank=True, default="")
    visits = VisitScoreSerializer(many=True, required=False, default=list, max_length=50)


class RatingSerializer(serializers.Serializer):
    order = serializers.IntegerField(source="order_id")
    score = serializers.IntegerField()
    comment = serializers.CharField()
    visits = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    changeable_until = serializers.SerializerMethodField(help_text="After this the rating is final (409 "
                                                                   "`rating_final`).")

    def get_visits(self, rating) -> list[dict]:
        return [{"appointment": v.appointment_id, "technician": v.technician_id, "score": v.score}
                for v in rating.visits.order_by("appointment_id")]

    def get_changeable_until(self, rating) -> str:
        until = rating.created_at + timedelta(days=setting("PORTAL_RATING_CHANGE_DAYS"))
        return serializers.DateTimeField().to_representation(until)


class OrderRatingApi(APIView):
    """The order's consumer rates the service after the last stage: stars for the order and, optionally, for each
    finished visit's technician; the same call changes it for 7 days."""

    permission_classes = [RolePermission]
    policy_action = "order.rate"

    @extend_schema(request=RatingInputSerializer, responses={
        201: OpenApiResponse(RatingSerializer, description="The rating, given for the first time."),
        200: OpenApiResponse(RatingSerializer, description="The rating, changed."),
        400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer,
        409: OpenApiResponse(ErrorSerializer, description=(
            "`invalid_transition` (the order is not complete), `rating_final` (the days to change it are over).")),
    })
    def post(self, request, id: int):
        order = visible_to(ServiceOrder.objects.all(), request.user).filter(pk=id).first()
        if order is None:
            raise Http404
        data = RatingInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        rating = ratings.rating_give(order=order, score=v["score"], comment=v["comment"],
                                     visits={item["appointment"]: item["score"] for item in v["visits"]})
        first = rating.updated_at == rating.created_at  # the service sets both at once only when it makes it
        return Response(RatingSerializer(rating).data, status=status.HTTP_201_CREATED if first else status.HTTP_200_OK)
