"""The technician API (/api/v1/technician/...). Thin: validate, call one service, answer.

Offline use: a phone queues check-ins, check-outs, checklist answers and completions while
offline and sends them in one `POST /api/v1/technician/sync/` in device order; each item is
applied through the same service as its own endpoint and answered separately. Every item carries
its `client_event_id` and its device time `recorded_at` (the batch's inputs require them where the
single endpoints do not), so a resent batch replays and answers count in device order. Evidence files
are not part of the batch: each is uploaded with its own multipart `POST .../evidence/`
(with its `client_event_id`, so a retried upload is stored once), after the batch that
checked the visit in.

Evidence comes back through the order (`GET /api/v1/orders/{id}/evidence/` and its file): to
whoever may see the order's detail, not only the technician who took it.
"""

from datetime import date

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core import dates
from core.api import AttachmentApi
from core.errors import DomainError
from core.schema import ErrorSerializer, attachment_schema
from fieldwork import selectors, services
from fieldwork.models import Evidence
from fieldwork.serializers import (
    CheckInInput,
    ChecklistInput,
    CheckOutInput,
    CompleteInput,
    EvidenceInput,
    JobDetailSerializer,
    JobRowSerializer,
    OrderEvidenceSerializer,
    SyncChecklistInput,
    SyncCompleteInput,
    SyncInput,
    SyncItemHead,
    SyncOutput,
)
from tenancy import policy
from workflows.models import Appointment


class IsTechnician(BasePermission):
    message = "Only technicians use the job API."

    def has_permission(self, request, view):
        return policy.may(request.user, "job.work")


PERMISSIONS = [IsAuthenticated, IsTechnician]
ACTION_RESPONSES = {
    400: OpenApiResponse(description="Invalid input (field errors)."),
    404: OpenApiResponse(description="Not one of your jobs."),
    409: OpenApiResponse(description="invalid_transition, guard_failed (with reasons) or stale_job."),
    422: OpenApiResponse(description="client_event_id already used for another action."),
}


# A technician action's outcome, as HTTP: a new record 201, a completed stage 200, a stale job 409.
STATUS_BY_OUTCOME = {"recorded": 201, "completed": 200, "stale": 409}
STALE_DETAIL = {
    "reassigned": "This job was given to another technician.",
    "cancelled": "This job was cancelled.",
    "no_show": "This job was marked as a no-show.",
}


def result_body(result: services.ActionResult) -> tuple[int, dict]:
    """(status, body) of an action's result: its data, or for a stale job the error body with its reason."""
    data = result.data
    if result.outcome == "stale":
        data = {"code": "stale_job", "detail": STALE_DETAIL.get(data.get("reason"), "This job is no longer yours."),
                **data}
    return STATUS_BY_OUTCOME[result.outcome], data


def _answer(result: services.ActionResult) -> Response:
    status, body = result_body(result)
    response = Response(body, status=status)
    if result.replayed:
        response["Client-Event-Replayed"] = "true"
    return response


class JobListApi(generics.ListAPIView):
    """My jobs on a day (`?date=YYYY-MM-DD`, in each store's time zone; by default today, each store's own
    today in its time zone), by window, each with what changed since I last read this day's list (`changed`);
    reading the list records the read. Visits cancelled while mine are listed too (state `cancelled`)."""

    permission_classes = PERMISSIONS
    serializer_class = JobRowSerializer
    day = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator, without a technician
            return Appointment.objects.none()
        raw = self.request.query_params.get("date")
        try:
            self.day = date.fromisoformat(raw) if raw else None
        except ValueError:
            raise exceptions.ValidationError({"date": ["Use YYYY-MM-DD."]}) from None
        if self.day is not None and not dates.in_range(self.day):
            raise exceptions.ValidationError({"date": [dates.OUT_OF_RANGE]})
        return selectors.job_list_for_date(technician=self.request.user, day=self.day)

    def list(self, request, *args, **kwargs):
        read_at = timezone.now()  # what was there when the read began counts as seen; a later change does not
        response = super().list(request, *args, **kwargs)
        services.job_list_read(technician=request.user, day=selectors.job_list_day(self.day), at=read_at)
        return response

    @extend_schema(parameters=[OpenApiParameter(
        "date", dates.QUERY_SCHEMA,
        allow_blank=True,
        description="YYYY-MM-DD, 2000-01-01 to 2099-12-31, in each store's time zone (default, or empty: today "
                    "in each store's time zone)",
    )])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class JobDetailApi(APIView):
    """One job: address and coordinates, window, consumer contact, the stage's rules, what is done."""

    permission_classes = PERMISSIONS

    @extend_schema(responses=JobDetailSerializer)
    def get(self, request, job_id: int):
        job = selectors.job_get(technician=request.user, job_id=job_id)
        context = {"request": request, "done": selectors.job_done_so_far(appointment=job),
                   "radius": settings.CHECKIN_RADIUS_METERS}
        return Response(JobDetailSerializer(job, context=context).data)


class _ActionApi(APIView):
    permission_classes = PERMISSIONS
    input_serializer: type[serializers.Serializer]
    # An upload is not even parsed for a job that is not the caller's (unless it carries an Idempotency-Key:
    # the middleware then parses it first to fingerprint it, see core/idempotency.py).
    check_job_before_parsing = False

    def run(self, request, job_id: int, data: dict) -> services.ActionResult:
        raise NotImplementedError

    def post(self, request, job_id: int):
        if self.check_job_before_parsing:
            services.job_for_technician(technician=request.user, job_id=job_id)
        # Someone else's job answers 404 whatever was sent: checked here when the input is refused;
        # valid input has the service check it first, in the same query as the replay lookup.
        try:
            serializer = self.input_serializer(data=request.data)
            valid = serializer.is_valid()
        except Exception:  # an unreadable body (parse error, media type)
            services.job_for_technician(technician=request.user, job_id=job_id)
            raise
        if not valid:
            services.job_for_technician(technician=request.user, job_id=job_id)
            raise exceptions.ValidationError(serializer.errors)
        return _answer(self.run(request, job_id, serializer.validated_data))


def _check_in(user, job_id, data, job_first=False):
    return services.job_check_in(technician=user, job_id=job_id, job_first=job_first, **data)


def _check_out(user, job_id, data, job_first=False):
    return services.job_check_out(technician=user, job_id=job_id, job_first=job_first, **data)


def _checklist(user, job_id, data, job_first=False):
    return services.job_checklist_submit(technician=user, job_id=job_id, job_first=job_first, **data)


def _complete(user, job_id, data, job_first=False):
    return services.job_complete(technician=user, job_id=job_id, job_first=job_first, **data)


@extend_schema(request=CheckInInput, responses={
    201: OpenApiResponse(description="The check-in."), **ACTION_RESPONSES,
    409: OpenApiResponse(description="invalid_transition (already checked in), stale_job, or too_early (recorded "
                                     "more than CHECKIN_EARLIEST_MINUTES before the window: `window_start`, "
                                     "`earliest_check_in`)."),
})
class CheckInApi(_ActionApi):
    """Arrive on site: time (device and server), place (distance to the address), on-time flag.
    A replayed client_event_id answers the first result. Long before the visit's window it is refused (409
    too_early) and records nothing."""

    input_serializer = CheckInInput

    def run(self, request, job_id, data):
        return _check_in(request.user, job_id, data, job_first=True)


@extend_schema(request=CheckOutInput, responses={201: OpenApiResponse(description="The check-out."),
                                                 **ACTION_RESPONSES})
class CheckOutApi(_ActionApi):
    """Leave the site: time, place, notes and checklist answers."""

    input_serializer = CheckOutInput

    def run(self, request, job_id, data):
        return _check_out(request.user, job_id, data, job_first=True)


@extend_schema(request=ChecklistInput, responses={201: OpenApiResponse(description="The checklist state."),
                                                  **ACTION_RESPONSES})
class ChecklistApi(_ActionApi):
    """Tick checklist items of the job's stage (also possible with the check-out)."""

    input_serializer = ChecklistInput

    def run(self, request, job_id, data):
        return _checklist(request.user, job_id, data, job_first=True)


@extend_schema(request=CompleteInput, responses={200: OpenApiResponse(description="The stage's new state."),
                                                 **ACTION_RESPONSES})
class CompleteApi(_ActionApi):
    """Submit the stage's work: 409 guard_failed with `reasons` while the visit, the evidence,
    the checklist or the voucher is missing."""

    input_serializer = CompleteInput

    def run(self, request, job_id, data):
        return _complete(request.user, job_id, data, job_first=True)


@extend_schema(request={"multipart/form-data": EvidenceInput},
               responses={201: OpenApiResponse(description="The stored evidence."), **ACTION_RESPONSES})
class EvidenceApi(_ActionApi):
    """Upload one piece of evidence (multipart: file, kind, client_event_id[, recorded_at]).
    Photos must be real JPEG/PNG/WebP images; files over EVIDENCE_MAX_BYTES are refused."""

    input_serializer = EvidenceInput
    parser_classes = [MultiPartParser, FormParser]
    check_job_before_parsing = True

    def run(self, request, job_id, data):
        return services.job_evidence_add(technician=request.user, job_id=job_id, **data)


SYNC_HANDLERS = {
    "check_in": (CheckInInput, _check_in),
    "check_out": (CheckOutInput, _check_out),
    "checklist": (SyncChecklistInput, _checklist),
    "complete": (SyncCompleteInput, _complete),
}


def _error_body(exc: Exception) -> tuple[int, dict]:
    if isinstance(exc, DomainError):
        return exc.status_code, {"code": exc.code, "detail": exc.detail, **exc.extra}
    assert isinstance(exc, exceptions.ValidationError)
    return 400, {"code": "invalid", "detail": "Invalid input.", "errors": exc.detail}


def _echo(value, kind):
    """Echo an item's identifying field back only when it is a plain value of the expected kind."""
    if isinstance(value, bool) or not isinstance(value, kind):
        return None
    return value[:64] if isinstance(value, str) else value


class SyncApi(APIView):
    """Catch up after working offline: a batch of check-ins, check-outs, checklist answers and
    completions in device order, each applied idempotently, with one result per item
    (`status` is what the item's own endpoint would have answered). Evidence is uploaded
    separately, one multipart request per file."""

    permission_classes = PERMISSIONS

    @extend_schema(request=SyncInput, responses=SyncOutput)
    def post(self, request):
        batch = SyncInput(data=request.data)
        batch.is_valid(raise_exception=True)
        results = []
        for index, item in enumerate(batch.validated_data["events"]):
            row = {"index": index, "client_event_id": _echo(item.get("client_event_id"), str),
                   "type": _echo(item.get("type"), str), "job": _echo(item.get("job"), int), "replayed": False}
            try:
                head = SyncItemHead(data=item)
                head.is_valid(raise_exception=True)
                input_cls, handler = SYNC_HANDLERS[head.validated_data["type"]]
                fields = input_cls(data={k: v for k, v in item.items() if k not in ("type", "job")})
                fields.is_valid(raise_exception=True)
                result = handler(request.user, head.validated_data["job"], fields.validated_data)
                status, body = result_body(result)
                row.update(status=status, body=body, replayed=result.replayed)
            except (DomainError, exceptions.ValidationError) as exc:
                status, body = _error_body(exc)
                row.update(status=status, body=body)
            results.append(row)
        return Response({"results": results})


# --- an order's evidence, for whoever may see the order -------------------------------------------

ORDER_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The order's id.")


class OrderEvidenceListApi(generics.ListAPIView):
    """The evidence of an order (photos, measurements), oldest first by device time, for whoever may
    see the order: its consumer, the merchant's staff (per their stores), the technician on its visits,
    the platform's operators. `download_url` fetches each file."""

    permission_classes = [IsAuthenticated]
    serializer_class = OrderEvidenceSerializer
    queryset = Evidence.objects.none()  # the model, for the schema; get_queryset reads

    def get_queryset(self):
        return selectors.order_evidence_list(user=self.request.user, order_id=self.kwargs["id"])

    @extend_schema(parameters=[ORDER_ID], responses={
        200: OrderEvidenceSerializer(many=True),
        404: OpenApiResponse(ErrorSerializer, description="No such order visible to you, or a page past the end."),
    })
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


@attachment_schema(
    parameters=[ORDER_ID, OpenApiParameter("evidence_id", int, OpenApiParameter.PATH,
                                           description="The evidence's id (from the order's evidence list).")],
    content_types=services.EVIDENCE_CONTENT_TYPES,
    not_found="No such order or evidence visible to you, or its file is missing from storage.",
)
class OrderEvidenceFileApi(AttachmentApi):
    """The file of one piece of evidence, as stored (its type detected from the bytes at upload), always
    as an attachment named by the server. 404 for an order you may not see, evidence of another order,
    or a file missing from storage."""

    def stored_file(self, user, *, id: int, evidence_id: int):
        evidence = selectors.order_evidence_get(user=user, order_id=id, evidence_id=evidence_id)
        name = f"evidence-{evidence.pk}.{evidence.extension}"
        return selectors.evidence_file_open(evidence), name, evidence.content_type
