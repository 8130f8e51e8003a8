"""What a technician records on site: arrival and departure, evidence, checklist answers.

Every record keeps two times: `recorded_at`, the device's time as the phone sent it (a visit
done offline keeps its real time), and `received_at`, the server's time when it arrived.
Each record carries the phone's `client_event_id`; the pair (technician, client_event_id) is
unique on every table, and `ClientEvent` stores the first answer given to each id, so a phone
that retries (or syncs a batch twice) gets the same answer and nothing is recorded twice.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.files import extension_for
from tenancy.scoping import TenantScope
from workflows.models import Appointment, ServiceOrder, StageInstance

COORD = {"max_digits": 9, "decimal_places": 6}


def _scope() -> TenantScope:
    return TenantScope(merchant="appointment__order__merchant", store="appointment__store",
                       technician="technician")


class _SiteRecord(models.Model):
    """Fields shared by check-ins and check-outs."""

    technician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    client_event_id = models.UUIDField()
    recorded_at = models.DateTimeField(help_text=_("Device time, as sent."))
    received_at = models.DateTimeField(help_text=_("Server time when the record arrived."))
    latitude = models.DecimalField(**COORD)
    longitude = models.DecimalField(**COORD)
    accuracy_m = models.FloatField(null=True, blank=True)
    distance_m = models.FloatField(help_text=_("Distance to the order's service address, in metres."))
    outside_radius = models.BooleanField(default=False)
    late_sync = models.BooleanField(default=False, help_text=_("Arrived long after it was recorded."))

    class Meta:
        abstract = True


class CheckIn(_SiteRecord):
    appointment = models.ForeignKey(Appointment, on_delete=models.PROTECT, related_name="checkins")
    on_time = models.BooleanField()
    minutes_late = models.PositiveIntegerField(default=0, help_text=_("Minutes after the window start."))
    minutes_early = models.PositiveIntegerField(default=0, help_text=_("Minutes before the window start."))
    # The phone's own accuracy is worse than the radius: it cannot say the technician was there.
    low_accuracy = models.BooleanField(default=False)
    # Outside the radius or low accuracy: the store was told (job.checkin_flagged).
    location_flagged = models.BooleanField(default=False)

    tenant_scope = _scope()

    class Meta:
        ordering = ["recorded_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["technician", "client_event_id"], name="unique_checkin_client_event"),
        ]

    def __str__(self) -> str:
        return f"check-in {self.appointment_id} at {self.recorded_at:%Y-%m-%d %H:%M}"


class CheckOut(_SiteRecord):
    appointment = models.ForeignKey(Appointment, on_delete=models.PROTECT, related_name="checkouts")
    notes = models.TextField(blank=True)
    # {item: ticked} for the items of the stage's checklist the technician answered.
    checklist = models.JSONField(default=dict, blank=True)

    tenant_scope = _scope()

    class Meta:
        ordering = ["recorded_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["technician", "client_event_id"], name="unique_checkout_client_event"),
        ]

    def __str__(self) -> str:
        return f"check-out {self.appointment_id} at {self.recorded_at:%Y-%m-%d %H:%M}"


class ChecklistSubmission(models.Model):
    """Checklist answers sent on their own (the check-out may also carry them)."""

    appointment = models.ForeignKey(Appointment, on_delete=models.PROTECT, related_name="checklist_submissions")
    stage = models.ForeignKey(StageInstance, on_delete=models.PROTECT, related_name="checklist_submissions")
    technician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    client_event_id = models.UUIDField()
    checklist = models.JSONField(default=dict)
    recorded_at = models.DateTimeField()
    received_at = models.DateTimeField()
    late_sync = models.BooleanField(default=False)

    tenant_scope = _scope()

    class Meta:
        ordering = ["recorded_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["technician", "client_event_id"], name="unique_checklist_client_event"),
        ]

    def __str__(self) -> str:
        return f"checklist {self.appointment_id} at {self.recorded_at:%Y-%m-%d %H:%M}"


def evidence_upload_to(instance: "Evidence", filename: str) -> str:
    """A name the server chooses: the uploader's file name never reaches the storage."""
    return f"evidence/{instance.order_id}/{uuid.uuid4().hex}.{instance.extension}"


class Evidence(models.Model):
    class Kind(models.TextChoices):
        PHOTO = "photo", _("Photo")
        MEASUREMENT = "measurement", _("Measurement")
        OTHER = "other", _("Other")
        SIGNATURE = "signature", _("Signature")  # the consumer's, on approving a stage: no visit, no technician

    order = models.ForeignKey(ServiceOrder, on_delete=models.PROTECT, related_name="evidence")
    appointment = models.ForeignKey(Appointment, on_delete=models.PROTECT, related_name="evidence", null=True,
                                    blank=True)
    stage = models.ForeignKey(StageInstance, on_delete=models.PROTECT, related_name="evidence")
    # Who recorded it: the technician, or the consumer for a signature.
    technician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    file = models.FileField(upload_to=evidence_upload_to, max_length=200)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=100, help_text=_("Detected from the content, not the upload."))
    client_event_id = models.UUIDField()
    recorded_at = models.DateTimeField()
    received_at = models.DateTimeField()
    late_sync = models.BooleanField(default=False)

    tenant_scope = _scope()

    class Meta:
        ordering = ["recorded_at", "pk"]
        verbose_name_plural = "evidence"
        constraints = [
            models.UniqueConstraint(fields=["technician", "client_event_id"], name="unique_evidence_client_event"),
        ]
        indexes = [models.Index(fields=["stage", "kind"]), models.Index(fields=["order", "sha256"])]

    def __str__(self) -> str:
        return f"{self.kind} for job {self.appointment_id}"

    @property
    def extension(self) -> str:
        return extension_for(self.content_type)


class ClientEvent(models.Model):
    """The first result of each client_event_id of a technician (kept for replays and audit).

    Successful actions and `stale` refusals are stored; an input error or a guard refusal is
    not (nothing happened, so the phone may fix the cause and send the same id again).
    """

    class Outcome(models.TextChoices):
        RECORDED = "recorded", "recorded"  # a new record (check-in, check-out, checklist, evidence)
        COMPLETED = "completed", "completed"  # the stage's work submitted
        STALE = "stale", "stale"  # refused: the job is no longer the technician's

    technician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    client_event_id = models.UUIDField()
    kind = models.CharField(max_length=20)
    appointment = models.ForeignKey(Appointment, null=True, on_delete=models.SET_NULL, related_name="+")
    order = models.ForeignKey(ServiceOrder, null=True, on_delete=models.SET_NULL, related_name="+")
    request = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    result = models.JSONField(default=dict)  # the action's data, as the API answered it
    recorded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    tenant_scope = TenantScope(merchant="order__merchant", store="order__store", technician="technician")

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["technician", "client_event_id"], name="unique_client_event_per_tech"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.client_event_id} -> {self.outcome}"


class JobChange(models.Model):
    """A change to one of a technician's visits that their job list marks until they read it (`changed`): given
    to them (at booking, by staff, a move to them), moved (kept by them), cancelled (with its order, or moved to a
    colleague). Written by the event listener (fieldwork.services.changes) in the event's transaction. A visit is
    named by its stage and window start: a booking's event is recorded before the visit's row exists."""

    class Kind(models.TextChoices):
        ASSIGNED = "assigned", _("Given to the technician")
        MOVED = "moved", _("Moved to another window")
        CANCELLED = "cancelled", _("Cancelled")

    technician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    stage = models.ForeignKey(StageInstance, on_delete=models.CASCADE, related_name="+")
    window_start = models.DateTimeField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    at = models.DateTimeField(help_text=_("When the change was recorded (its event's time)."))

    tenant_scope = TenantScope(merchant="stage__order__merchant", store="stage__order__store",
                               technician="technician")

    class Meta:
        indexes = [models.Index(fields=["technician", "stage", "window_start"], name="jobchange_visit")]

    def __str__(self) -> str:
        return f"{self.kind} for {self.technician_id} at {self.at:%Y-%m-%d %H:%M}"


class JobListRead(models.Model):
    """When a technician last read their job list of a day: what changed after it is marked."""

    technician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    read_at = models.DateTimeField()

    tenant_scope = TenantScope(technician="technician")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["technician", "day"], name="one_job_list_read_per_day")]

    def __str__(self) -> str:
        return f"{self.technician_id} read {self.day} at {self.read_at:%Y-%m-%d %H:%M}"
