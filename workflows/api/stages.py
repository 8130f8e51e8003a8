"""Stage actions (staff submit, start and resume off-site work; the consumer approves or rejects), and the
files staff attach."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from core.api import AttachmentApi
from core.schema import ProblemResponse, attachment_schema
from tenancy.policy import RolePermission
from tenancy.scoping import ScopedQuerysetMixin
from workflows import selectors, services
from workflows.models import StageInstance
from workflows.serializers import (
    NoteSerializer,
    ReasonSerializer,
    StageInstanceSerializer,
    SubmitSerializer,
)


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

    @extend_schema(request={"multipart/form-data": {"type": "object", "properties": {
        "signature": {"type": "string", "format": "binary",
                      "description": "The consumer's drawn signature (PNG); required when the stage asks for it."}}}},
        responses={200: StageInstanceSerializer, 400: ProblemResponse, 409: ProblemResponse})
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser, FormParser, JSONParser])
    def approve(self, request, pk=None):
        stage = self.get_object()
        services.stage_approve(stage=stage, actor=request.user, signature=request.FILES.get("signature"))
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
