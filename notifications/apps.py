from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        from django.core import checks

        from notifications import plugin
        from notifications.sms_aliyun import check_settings

        plugin.register()
        checks.register(check_settings)
