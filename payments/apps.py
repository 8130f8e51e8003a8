from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Staged payments"

    def ready(self) -> None:
        from payments import sections, services
        from workflows import hooks

        hooks.register_effect(services.on_order_transition)
        hooks.register_guard("unblock", services.guard_unblock)
        hooks.register_guard("settle", services.guard_settle)
        hooks.register_order_section("installments", load=sections.load,
                                     serialize=sections.serialize_installments, schema=sections.installments_schema)
        # The money section reads the rows the installments section loads.
        hooks.register_order_section("money", serialize=sections.serialize_money, schema=sections.money_schema)
