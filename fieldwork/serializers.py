"""Input validation and output shapes of the technician API (no logic, no queries)."""

import math

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.fields import AwareDateTimeField, latitude_field, longitude_field
from fieldwork.models import Evidence, JobChange
from workflows.models import Appointment


class FiniteFloatField(serializers.FloatField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("invalid")
        return value


class DeviceDateTimeField(AwareDateTimeField):
    """A device time with its UTC offset, kept as sent (not converted to the server's zone)."""

    keep_offset = True


class CheckInInput(serializers.Serializer):
    client_event_id = serializers.UUIDField()
    recorded_at = DeviceDateTimeField(help_text="Device time with its UTC offset.")
    latitude = latitude_field()
    longitude = longitude_field()
    accuracy_m = FiniteFloatField(min_value=0, max_value=100_000, required=False, allow_null=True)


class CheckOutInput(CheckInInput):
    notes = serializers.CharField(required=False, allow_blank=True, max_length=4000, default="")
    checklist = serializers.JSONField(
        required=False, allow_null=True,
        help_text='{"item": true/false} (the items answered) or ["ticked item", ...] (all others unticked).',
    )


@extend_schema_field({"oneOf": [{"type": "object", "additionalProperties": {"type": "boolean"}},
                                {"type": "array", "items": {"type": "string"}}]})
class ChecklistAnswersField(serializers.JSONField):
    """Checklist answers: an object of booleans or a list of ticked items (the schema says so; null is refused)."""


class ChecklistInput(serializers.Serializer):
    client_event_id = serializers.UUIDField()
    recorded_at = DeviceDateTimeField(required=False)
    checklist = ChecklistAnswersField(
        help_text='{"item": true/false} (the items answered) or ["ticked item", ...] (all others unticked).',
    )


class EvidenceInput(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=False)
    # A signature is the consumer's (kept on approval), never a technician's upload.
    kind = serializers.ChoiceField(choices=[c for c in Evidence.Kind.choices if c[0] != Evidence.Kind.SIGNATURE])
    client_event_id = serializers.UUIDField()
    recorded_at = DeviceDateTimeField(required=False)

    def validate(self, attrs):
        # DRF reads an empty form value of an optional field as absent; the schema says a date-time when given
        # (the fuzzer found `recorded_at=` taken as "now"), so it is refused like any other invalid time.
        if self.initial_data.get("recorded_at") == "":
            raise serializers.ValidationError({"recorded_at": ["Give the device time with its UTC offset, or leave "
                                                               "the field out."]})
        return attrs


class CompleteInput(serializers.Serializer):
    client_event_id = serializers.UUIDField(required=False, help_text="Makes a retried completion a replay.")
    recorded_at = DeviceDateTimeField(required=False)


BATCH_RECORDED_AT = "Device time with its UTC offset: required in a sync batch."


class SyncChecklistInput(ChecklistInput):
    """Checklist answers in a sync batch: the latest answer by device time wins, so each needs its device time
    (the server's clock would put an answer ticked offline after the phone's later ones)."""

    recorded_at = DeviceDateTimeField(help_text=BATCH_RECORDED_AT)


class SyncCompleteInput(CompleteInput):
    """A completion in a sync batch: a resent batch must replay it, not run it again, so its id is required
    like every other item's, and so is its device time (when the work was done, not when it was uploaded)."""

    client_event_id = serializers.UUIDField(help_text="Makes a resent completion a replay.")
    recorded_at = DeviceDateTimeField(help_text=BATCH_RECORDED_AT)


SYNC_TYPES = ("check_in", "check_out", "checklist", "complete")


class SyncItemHead(serializers.Serializer):
    type = serializers.ChoiceField(choices=SYNC_TYPES)
    job = serializers.IntegerField(min_value=1)


class SyncInput(serializers.Serializer):
    events = serializers.ListField(
        child=serializers.DictField(), allow_empty=False, max_length=200,
        help_text="In device order. Each: {type, job, client_event_id, recorded_at, ...the fields of that "
                  "action}. client_event_id and recorded_at (the device time) are required on every item, a "
                  "checklist answer and a completion too: a resent batch then replays each item's first answer, "
                  "and checklist answers count in device time. An item without them answers 400 (errors."
                  "client_event_id, errors.recorded_at).",
    )


class SyncResult(serializers.Serializer):
    index = serializers.IntegerField()
    client_event_id = serializers.CharField(allow_null=True)
    type = serializers.CharField(allow_null=True)
    job = serializers.IntegerField(allow_null=True)
    status = serializers.IntegerField(help_text="HTTP-like status of this item.")
    replayed = serializers.BooleanField()
    body = serializers.DictField()


class SyncOutput(serializers.Serializer):
    results = SyncResult(many=True)


# --- outputs -----------------------------------------------------------------------------------


def _local(value, appointment: Appointment):
    return value.astimezone(appointment.store.tzinfo).isoformat() if value else None


class JobSerializer(serializers.ModelSerializer):
    """A row of the technician's day: where, when, who."""

    window_start = serializers.SerializerMethodField()
    window_end = serializers.SerializerMethodField()
    timezone = serializers.CharField(source="store.timezone")
    order = serializers.SerializerMethodField()
    stage = serializers.SerializerMethodField()
    address = serializers.CharField(source="order.service_address")
    latitude = serializers.DecimalField(source="order.latitude", max_digits=9, decimal_places=6)
    longitude = serializers.DecimalField(source="order.longitude", max_digits=9, decimal_places=6)
    consumer = serializers.SerializerMethodField()
    evidence_count = serializers.IntegerField(read_only=True, default=None)

    class Meta:
        model = Appointment
        fields = ["id", "state", "window_start", "window_end", "timezone", "order", "stage", "address",
                  "latitude", "longitude", "consumer", "checked_in_at", "checked_out_at", "evidence_count"]

    def get_window_start(self, obj) -> str:
        return _local(obj.window_start, obj)

    def get_window_end(self, obj) -> str:
        return _local(obj.window_end, obj)

    def get_order(self, obj) -> dict:
        return {"id": obj.order_id, "number": obj.order.number, "state": obj.order.state}

    def get_stage(self, obj) -> dict:
        d = obj.stage.definition
        return {"id": obj.stage_id, "code": d.code, "name": d.name, "state": obj.stage.state}

    def get_consumer(self, obj) -> dict:
        c = obj.order.consumer
        return {"name": c.display_name, "phone": c.phone}


class JobChangeMark(serializers.Serializer):
    kind = serializers.ChoiceField(choices=JobChange.Kind.choices, help_text=(
        "assigned: given to you (booked, by staff, or moved to you); moved: your visit moved to this window; "
        "cancelled: called off (its order cancelled, or moved to a colleague)."))
    at = serializers.DateTimeField(help_text="When it changed (store time).")


class JobRowSerializer(JobSerializer):
    """A row of the job list: a job, with what changed about it since you last read this day's list. A cancelled
    visit is only a marker (what, when, which order): its address and the consumer's contact are null."""

    address = serializers.CharField(source="order.service_address", allow_null=True)
    latitude = serializers.DecimalField(source="order.latitude", max_digits=9, decimal_places=6, allow_null=True)
    longitude = serializers.DecimalField(source="order.longitude", max_digits=9, decimal_places=6, allow_null=True)
    changed = serializers.SerializerMethodField()

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "changed"]

    @extend_schema_field(JobChangeMark(allow_null=True))
    def get_changed(self, obj) -> dict | None:
        at, read_at = getattr(obj, "change_at", None), getattr(obj, "list_read_at", None)
        if at is None or (read_at is not None and at <= read_at):
            return None
        return {"kind": obj.change_kind, "at": _local(at, obj)}

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_consumer(self, obj) -> dict | None:
        return None if obj.state == Appointment.State.CANCELLED else super().get_consumer(obj)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if instance.state == Appointment.State.CANCELLED:
            data.update(address=None, latitude=None, longitude=None)
        return data


class CheckInOut(serializers.Serializer):
    id = serializers.IntegerField()
    client_event_id = serializers.UUIDField()
    recorded_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField()
    distance_m = serializers.FloatField()
    outside_radius = serializers.BooleanField()
    late_sync = serializers.BooleanField()


class CheckInRecord(CheckInOut):
    on_time = serializers.BooleanField()
    minutes_late = serializers.IntegerField()
    minutes_early = serializers.IntegerField()


class CheckOutRecord(CheckInOut):
    notes = serializers.CharField()
    checklist = serializers.DictField()


class EvidenceRecord(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    sha256 = serializers.CharField()
    size = serializers.IntegerField()
    content_type = serializers.CharField()
    recorded_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField()


class EvidenceStage(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField(source="definition.code")


class OrderEvidenceSerializer(EvidenceRecord):
    """A piece of evidence of an order, as the order's consumer and the store staff see it."""

    kind = serializers.ChoiceField(choices=Evidence.Kind.choices)
    stage = EvidenceStage()
    appointment = serializers.IntegerField(source="appointment_id", help_text="The visit (job) it was taken on.")
    late_sync = serializers.BooleanField()
    download_url = serializers.SerializerMethodField(help_text="The file (GET, same authentication).")

    def get_download_url(self, obj) -> str:
        return reverse("order-evidence-file", kwargs={"id": obj.order_id, "evidence_id": obj.pk})


class JobDetailSerializer(JobSerializer):
    """Everything the app needs on site: the list row, the stage's rules and what is done."""

    rules = serializers.SerializerMethodField()
    done = serializers.SerializerMethodField()

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "rules", "done"]

    def get_rules(self, obj) -> dict:
        d = obj.stage.definition
        done = self.context["done"]
        return {
            "min_photos": d.min_photos,
            "checklist": list(done["checklist"]),  # the template's items and those the store added
            "requires_voucher": d.requires_voucher,
            "voucher_redeemed": done["voucher_redeemed"],
            "requires_approval": d.requires_approval,
            "arrival_tolerance_minutes": d.arrival_tolerance_minutes,
            "checkin_radius_m": self.context["radius"],
        }

    def get_done(self, obj) -> dict:
        done = self.context["done"]
        d = obj.stage.definition
        return {
            "checkins": CheckInRecord(done["checkins"], many=True).data,
            "checkouts": CheckOutRecord(done["checkouts"], many=True).data,
            "evidence": EvidenceRecord(done["evidence"], many=True).data,
            "photo_count": done["photo_count"],
            "photos_missing": max(0, d.min_photos - done["photo_count"]),
            "checklist": done["checklist"],
        }
