"""On-site visits: list, assign a technician, move (or rebook a missed one)."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.errors import DomainError
from core.filters import IdFilterSet, StoreDayFilter
from core.schema import ProblemResponse
from tenancy.models import User
from tenancy.policy import RolePermission
from tenancy.scoping import ScopedQuerysetMixin, visible_to
from workflows import services
from workflows.models import Appointment
from workflows.serializers import (
    AppointmentSerializer,
    AssignSerializer,
    RescheduleSerializer,
)

Role = User.Role



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
            raise DomainError(_("No such technician."), code="invalid", errors={"technician": ["No such technician."]})
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
