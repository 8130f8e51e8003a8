from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from notifications import services
from notifications.models import Notification, NotificationPreference
from tenancy.admin import TenantScopedAdmin


@admin.register(Notification)
class NotificationAdmin(TenantScopedAdmin):
    """The outbox, read-only: rows are written by the event listener and the delivery task."""

    read_only_records = True
    list_display = ("created_at", "kind", "recipient", "channel", "state", "attempts", "sent_at", "order")
    list_filter = ("state", "channel", "kind")
    search_fields = ("order__number", "recipient__username", "kind")
    list_select_related = ("recipient", "order")
    readonly_fields = [f.name for f in Notification._meta.fields]
    actions = ["retry_failed"]

    def get_actions(self, request):
        # Read-only records still allow the retry action for staff who may view them.
        actions = super().get_actions(request)
        if not self._role_allowed(request, self.view_action):
            actions.pop("retry_failed", None)
        return actions

    @admin.action(description=_("Send the selected failed notifications again"))
    def retry_failed(self, request, queryset):
        requeued = sum(services.notification_retry(notification=n) for n in queryset)
        told = ngettext("%(count)s notification queued again.", "%(count)s notifications queued again.", requeued)
        self.message_user(request, told % {"count": requeued}, messages.SUCCESS)


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(TenantScopedAdmin):
    list_display = ("user", "email", "sms", "quiet_hours_start", "quiet_hours_end")
    search_fields = ("user__username",)
