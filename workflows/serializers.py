from decimal import Decimal

from django.db import models
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.fields import (
    AwareDateTimeField,
    MoneyDisplayField,
    StrictBooleanField,
    StrictCharField,
    StrictDecimalField,
    StrictSlugField,
    latitude_field,
    longitude_field,
)
from core.filters import MAX_ID
from core.money import currencies, minor_units_error, part_errors, quantize
from tenancy.phones import MAX_INPUT_LENGTH as MAX_PHONE_INPUT
from workflows import hooks
from workflows.detail import order_detail_data, submission_file_data
from workflows.models import (
    Appointment,
    OrderEvent,
    ServiceOrder,
    StageDefinition,
    StageInstance,
    TemplateDistribution,
    TemplateVersion,
    WorkflowTemplate,
)
from workflows.selectors import order_detail_load
from workflows.services import STAGE_FIELDS, SUBMISSION_STORED_TYPES


def currency_field(**kwargs) -> serializers.ChoiceField:
    """One of the currencies the service knows the minor unit of (settings.CURRENCY_DECIMALS)."""
    return serializers.ChoiceField(choices=currencies(), default="CNY", error_messages={
        "invalid_choice": "Not a currency this service takes: {input}. Use one of " + ", ".join(currencies()) + ".",
    }, **kwargs)


class StageDefinitionSerializer(serializers.ModelSerializer):
    # `true`/`false` and strings only, as the schema says (DRF would take "yes", 0 or 1 as booleans).
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.BooleanField: StrictBooleanField,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.DecimalField: StrictDecimalField,
        models.SlugField: StrictSlugField,
    }
    checklist = serializers.ListField(child=StrictCharField(max_length=200), required=False, max_length=50)
    payment_currency = currency_field(help_text="Currency of `payment_amount` (an order with fixed payments is in it).")

    class Meta:
        model = StageDefinition
        fields = ["position", *STAGE_FIELDS]
        read_only_fields = ["position"]

    def validate(self, attrs):
        # A share or a fixed amount, in whole minor units of its currency (as StageDefinition.clean).
        if errors := part_errors(attrs.get("payment_share"), attrs.get("payment_amount"),
                                 attrs.get("payment_currency", "CNY")):
            raise serializers.ValidationError(errors)
        return attrs

    def validate_code(self, value: str) -> str:
        if "__" in value:
            raise serializers.ValidationError(_("A stage code may not contain '__'."))
        return value


class TemplateVersionSerializer(serializers.ModelSerializer):
    stages = StageDefinitionSerializer(many=True, read_only=True)

    class Meta:
        model = TemplateVersion
        fields = ["id", "number", "status", "published_at", "stages"]


class DistributionSerializer(serializers.ModelSerializer):
    version_number = serializers.IntegerField(source="version.number", read_only=True)

    class Meta:
        model = TemplateDistribution
        fields = ["store", "version", "version_number", "appointment_minutes_overrides", "distributed_at"]


class TemplateSerializer(serializers.ModelSerializer):
    draft = serializers.SerializerMethodField()
    published = serializers.SerializerMethodField()
    distributions = DistributionSerializer(many=True, read_only=True)

    class Meta:
        model = WorkflowTemplate
        fields = ["id", "merchant", "name", "description", "draft", "published", "distributions", "updated_at"]

    @extend_schema_field(TemplateVersionSerializer(allow_null=True))
    def get_draft(self, obj):
        draft = next((v for v in obj.versions.all() if v.status == TemplateVersion.Status.DRAFT), None)
        return TemplateVersionSerializer(draft).data if draft else None

    @extend_schema_field(TemplateVersionSerializer(many=True))
    def get_published(self, obj):
        versions = sorted(
            (v for v in obj.versions.all() if v.status == TemplateVersion.Status.PUBLISHED), key=lambda v: -v.number
        )
        return TemplateVersionSerializer(versions, many=True).data


class TemplateWriteSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    description = StrictCharField(required=False, allow_blank=True, default="")
    stages = StageDefinitionSerializer(many=True)


class TemplatePatchSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200, required=False)
    description = StrictCharField(required=False, allow_blank=True)
    stages = StageDefinitionSerializer(many=True, required=False)


class DistributeSerializer(serializers.Serializer):
    # Bounded like a primary key: the ids go into one `pk__in` query, which SQLite cannot bind past 64 bits.
    stores = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID), allow_empty=False,
                                   max_length=500)


def amount_errors(attrs: dict, field: str) -> dict:
    """A field error when the amount has more decimal places than its currency has minor units."""
    amount, currency = attrs.get(field), attrs.get("currency")
    error = minor_units_error(amount, currency) if amount is not None and currency is not None else None
    return {field: [error]} if error else {}


class SplitPreviewSerializer(serializers.Serializer):
    total = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    currency = currency_field()

    def validate(self, attrs):
        # DRF reads an empty query value (`?currency=`) of an optional field as absent and takes the default;
        # the schema says it is one of the currencies, so it is refused like any other invalid currency.
        if self.initial_data.get("currency") == "":
            raise serializers.ValidationError({"currency": [serializers.CharField.default_error_messages["blank"]]})
        if errors := amount_errors(attrs, "total"):
            raise serializers.ValidationError(errors)
        return attrs


class ConsumerInputSerializer(serializers.Serializer):
    phone = StrictCharField(
        max_length=MAX_PHONE_INPUT,
        required=False,
        allow_blank=True,
        default="",
        help_text="Any usual spelling of the number (`13800000001`, `+86 138-0000-0001`); it is stored in E.164. "
        "A number without a country code is read in the DEFAULT_PHONE_REGION setting (CN). An invalid number: 400.",
    )
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    name = StrictCharField(max_length=120, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if not attrs.get("phone") and not attrs.get("email"):
            raise serializers.ValidationError(_("Give the consumer's phone or email."))
        return attrs


class OrderCreateSerializer(serializers.Serializer):
    template = serializers.IntegerField(min_value=1)
    store = serializers.IntegerField(min_value=1)
    consumer = ConsumerInputSerializer()
    total_amount = StrictDecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    currency = currency_field()
    service_address = StrictCharField(max_length=300)
    latitude = latitude_field()
    longitude = longitude_field()
    external_ref = StrictCharField(
        max_length=64, required=False, allow_blank=True, default="",
        help_text="The brand's own order number (e.g. the marketplace order), unique per brand. An order with this "
        "number already there is answered (200) instead of a second one being made.",
    )
    # An amount the currency would round is refused by workflows.services.order_create, for every caller.


class ReasonSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=2000)


class OptionalReasonSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class SubmitSerializer(serializers.Serializer):
    notes = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    file = serializers.ListField(
        child=serializers.FileField(max_length=200), required=False, default=list, max_length=10
    )


class BookSerializer(serializers.Serializer):
    stage = serializers.IntegerField(min_value=1)
    window_start = AwareDateTimeField(help_text="One of the slots' `start`, with its UTC offset.")


class RescheduleSerializer(serializers.Serializer):
    window_start = AwareDateTimeField(help_text="One of the slots' `start`, with its UTC offset.")


class AssignSerializer(serializers.Serializer):
    technician = serializers.IntegerField(min_value=1)


class SlotSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    free_technicians = serializers.IntegerField()


class SubmissionFileSerializer(serializers.Serializer):
    """A file store staff attached to the stage. Its bytes come from `download_url` (as an attachment, to whoever
    may see the order)."""

    id = serializers.IntegerField()
    name = serializers.CharField(help_text="The name it was uploaded with (data only: the download is named by "
                                           "the server).")
    content_type = serializers.ChoiceField(choices=SUBMISSION_STORED_TYPES,
                                           help_text="Detected from the bytes at upload (application/octet-stream "
                                                     "only for files stored before the check existed).")
    size = serializers.IntegerField(help_text="In bytes.")
    download_url = serializers.CharField(help_text="The file (GET, same authentication).")

    def to_representation(self, instance):
        return submission_file_data(stage_id=instance.stage_id, id=instance.pk, name=instance.original_name,
                                    content_type=instance.content_type, size=instance.size)


class StageInstanceSerializer(serializers.ModelSerializer):
    code = serializers.CharField(source="definition.code", read_only=True)
    name = serializers.CharField(source="definition.name", read_only=True)
    requires_appointment = serializers.BooleanField(source="definition.requires_appointment", read_only=True)
    requires_approval = serializers.BooleanField(source="definition.requires_approval", read_only=True)
    requires_voucher = serializers.BooleanField(source="definition.requires_voucher", read_only=True)
    payment_share = serializers.DecimalField(
        source="definition.payment_share", max_digits=5, decimal_places=2, read_only=True, allow_null=True
    )
    payment_amount = serializers.SerializerMethodField()
    payment_timing = serializers.CharField(source="definition.payment_timing", read_only=True)
    submission_files = SubmissionFileSerializer(many=True, read_only=True)

    class Meta:
        model = StageInstance
        fields = [
            "id",
            "position",
            "code",
            "name",
            "state",
            "requires_appointment",
            "requires_approval",
            "requires_voucher",
            "payment_share",
            "payment_amount",
            "payment_timing",
            "rework_rounds",
            "entered_at",
            "started_at",
            "submitted_at",
            "completed_at",
            "sla_due_at",
            "sla_paused_at",
            "waiting_seconds",
            "submission_notes",
            "submission_files",
        ]


    @extend_schema_field(serializers.CharField(allow_null=True, help_text="The stage's fixed amount (a deposit) in "
                                               "the order's currency, or null: it pays a share, or nothing."))
    def get_payment_amount(self, obj):
        amount, currency = obj.definition.payment_amount, obj.definition.payment_currency
        return None if amount is None else str(quantize(amount, currency))

class AppointmentSerializer(serializers.ModelSerializer):
    technician_name = serializers.SerializerMethodField()

    class Meta:
        model = Appointment
        fields = [
            "id",
            "order",
            "stage",
            "store",
            "technician",
            "technician_name",
            "window_start",
            "window_end",
            "state",
            "reschedule_count",
            "checked_in_at",
            "checked_out_at",
        ]

    def get_technician_name(self, obj) -> str | None:
        return obj.technician.display_name if obj.technician_id else None


class OrderEventSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = OrderEvent
        fields = [
            "seq",
            "kind",
            "stage",
            "trigger",
            "from_state",
            "to_state",
            "actor",
            "actor_role",
            "created_at",
            "payload",
        ]

    def get_actor(self, obj) -> str | None:
        return obj.actor.display_name if obj.actor_id else None


@extend_schema_field(serializers.DecimalField(max_digits=14, decimal_places=2))
class CurrencyAmountField(serializers.Field):
    """The order's total with its currency's own places ("12000.00" CNY, "12000" JPY), as the installments,
    the money section and the payments show amounts."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, order):
        return str(quantize(order.total_amount, order.currency))


class OrderListSerializer(serializers.ModelSerializer):
    template = serializers.CharField(source="template_version.template.name", read_only=True)
    total_amount = CurrencyAmountField()
    total_amount_display = MoneyDisplayField(amount="total_amount")
    template_version = serializers.IntegerField(source="template_version.number", read_only=True)
    current_stage = serializers.CharField(source="current_stage.definition.code", read_only=True, allow_null=True)

    class Meta:
        model = ServiceOrder
        fields = [
            "id",
            "number",
            "external_ref",
            "store",
            "consumer",
            "template",
            "template_version",
            "total_amount",
            "total_amount_display",
            "currency",
            "state",
            "status",
            "current_stage",
            "created_at",
        ]


# The order detail's fields, for the schema. The representation is order_detail_data (plain functions
# over the rows order_detail_load reads: the same body, without DRF building fields for every stage,
# visit and event).
class OrderDetailSerializer(OrderListSerializer):
    stages = StageInstanceSerializer(many=True, read_only=True)
    appointments = AppointmentSerializer(many=True, read_only=True)
    timeline = OrderEventSerializer(source="events", many=True, read_only=True)
    progress = serializers.DictField(read_only=True)
    next_step = serializers.DictField(read_only=True)
    allowed_triggers = serializers.ListField(child=serializers.CharField(), read_only=True)
    consumer_name = serializers.CharField(source="consumer.display_name", read_only=True)
    store_name = serializers.CharField(source="store.name", read_only=True)

    class Meta(OrderListSerializer.Meta):
        fields = [
            *OrderListSerializer.Meta.fields,
            "consumer_name",
            "store_name",
            "service_address",
            "latitude",
            "longitude",
            "progress",
            "next_step",
            "allowed_triggers",
            "stages",
            "appointments",
            "timeline",
            "completed_at",
            "cancelled_at",
            "cancel_reason",
        ]

    def get_fields(self):
        # The sections other apps add (installments, money, vouchers, visits, tracking_url), described by
        # their own apps, so the published schema lists what order_detail_data writes.
        fields = super().get_fields()
        for section in hooks.order_sections():
            fields[section.name] = section.schema()
        return fields

    def to_representation(self, obj):
        return order_detail_data(order_detail_load([obj])[0], self.context.get("request"))
