"""The notification outbox and the people's message preferences.

A Notification row is written in the same transaction as the OrderEvent that causes it (the event
listener in notifications.listeners), so a message exists if and only if its event committed. Delivery
happens later, in Celery (notifications.tasks), which claims the row with a conditional UPDATE
(pending -> sending) so that a task delivered twice never sends twice.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenancy.scoping import TenantScope


class Notification(models.Model):
    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        SMS = "sms", _("SMS")

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        SENDING = "sending", _("Being sent")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Not sent (preference or no address)")

    order = models.ForeignKey("workflows.ServiceOrder", on_delete=models.CASCADE, related_name="notifications")
    # The event that caused the message; empty for scheduled messages (visit reminders).
    event = models.ForeignKey(
        "workflows.OrderEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="notifications"
    )
    # Set for visit reminders, which are made once per appointment, not per event.
    appointment = models.ForeignKey(
        "workflows.Appointment", null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    kind = models.CharField(max_length=60, db_index=True)
    # The address the message goes to, fixed when the row is made (email address or phone number).
    to_address = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    # The message's variables as text (SMS rows): what a template-based SMS provider (China's) fills in.
    params = models.JSONField(_("message variables"), default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Not before this time (quiet hours push it to their end).
    deliver_after = models.DateTimeField(default=timezone.now)
    # After a failed attempt: when the retry is due (the outbox relay leaves the row alone until then).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Which delivery run claimed the row ("<celery task id>:<retry number>"). When the worker dies after
    # the claim, the broker redelivers that same run (acks_late + reject_on_worker_lost), and it may resume.
    claimed_by = models.CharField(max_length=64, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # What the channel answered (SMS backend message id, say).
    provider_ref = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    tenant_scope = TenantScope(merchant="order__merchant", store="order__store", consumer="recipient")

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # An event never makes the same message twice.
            models.UniqueConstraint(
                fields=["event", "recipient", "channel"], condition=Q(event__isnull=False),
                name="one_notification_per_event_recipient_channel",
            ),
            # A visit reminder is made once per appointment.
            models.UniqueConstraint(
                fields=["appointment", "kind", "recipient", "channel"], condition=Q(appointment__isnull=False),
                name="one_notification_per_appointment_kind_recipient_channel",
            ),
        ]
        indexes = [models.Index(fields=["state", "deliver_after"])]

    def __str__(self) -> str:
        return f"{self.kind} -> {self.recipient_id} by {self.channel} ({self.state})"


class NotificationPreference(models.Model):
    """How a person wants to hear from us. Without a row, both channels are on and no quiet hours."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    email = models.BooleanField(default=True, help_text=_("Send messages by email."))
    sms = models.BooleanField(default=True, help_text=_("Send messages by SMS."))
    # SMS made during quiet hours wait for their end (in the order's store time zone). Both empty: none.
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    tenant_scope = TenantScope(consumer="user")

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"

    def allows(self, channel: str) -> bool:
        return bool(getattr(self, channel, True))

    @property
    def has_quiet_hours(self) -> bool:
        return self.quiet_hours_start is not None and self.quiet_hours_end is not None \
            and self.quiet_hours_start != self.quiet_hours_end
