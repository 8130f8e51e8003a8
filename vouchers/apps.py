from django.apps import AppConfig


class VouchersConfig(AppConfig):
    name = "vouchers"
    verbose_name = "E-vouchers"

    def ready(self) -> None:
        from vouchers import plugin

        plugin.register()
