"""The reference workflows of the product brief, as data (used by the demo and the tests)."""

from decimal import Decimal

CUSTOM_WARDROBE = {
    "name": "Custom wardrobe",
    "description": "Made-to-measure wardrobe: deposit, measuring visit, design, installation, acceptance.",
    "stages": [
        {
            "code": "booking",
            "name": "Booking",
            "payment_share": Decimal("10"),
            "payment_timing": "before",
            "refundable_on_cancel": True,
            "sla_hours": 48,
        },
        {
            "code": "measuring",
            "name": "Measuring on site",
            "requires_appointment": True,
            "appointment_minutes": 90,
            "requires_voucher": True,
            "min_photos": 2,
            "checklist": ["Walls measured", "Floor level checked", "Power sockets marked"],
            "sla_hours": 72,
            "arrival_tolerance_minutes": 15,
        },
        {
            "code": "design",
            "name": "Design",
            "requires_approval": True,
            "max_rework_rounds": 2,
            "payment_share": Decimal("30"),
            "payment_timing": "after",
            "sla_hours": 120,
            "refundable_on_cancel": True,
        },
        {
            "code": "installation",
            "name": "Installation on site",
            "requires_appointment": True,
            "appointment_minutes": 240,
            "requires_voucher": True,
            "min_photos": 3,
            "checklist": ["Cabinets level", "Doors aligned", "Site cleaned"],
            "payment_share": Decimal("50"),
            "payment_timing": "before",
            "sla_hours": 72,
            "arrival_tolerance_minutes": 15,
            "refundable_on_cancel": False,
        },
        {
            "code": "acceptance",
            "name": "Acceptance",
            "requires_approval": True,
            "max_rework_rounds": 1,
            "payment_share": Decimal("10"),
            "payment_timing": "after",
            "sla_hours": 72,
            "refundable_on_cancel": False,
        },
    ],
}

LARGE_APPLIANCE = {
    "name": "Large appliance delivery and installation",
    "description": "Pay in full, then delivery and installation on site in one visit, then the consumer accepts.",
    "stages": [
        {
            "code": "payment",
            "name": "Payment",
            "payment_share": Decimal("100"),
            "payment_timing": "before",
            "refundable_on_cancel": True,
        },
        {
            "code": "delivery",
            "name": "Delivery and installation",
            "requires_appointment": True,
            "appointment_minutes": 120,
            "requires_voucher": True,
            "min_photos": 1,
            "checklist": ["Appliance unpacked", "Connected and tested"],
            "sla_hours": 96,
            "arrival_tolerance_minutes": 30,
        },
        {
            "code": "acceptance",
            "name": "Acceptance",
            "requires_approval": True,
            "max_rework_rounds": 1,
            "sla_hours": 48,
        },
    ],
}

# A fixed-amount deposit (定金) instead of a share: 500.00 CNY at booking, whatever the total; the installation's
# 100 % share takes the rest (core.money.allocate_with_fixed). The brief's wardrobe keeps its 10/30/50/10 shares.
BUILT_IN_APPLIANCE = {
    "name": "Built-in appliance installation",
    "description": "A 500 CNY booking deposit, the rest before the installation visit, then the consumer accepts.",
    "stages": [
        {
            "code": "booking",
            "name": "Booking deposit",
            "payment_amount": Decimal("500.00"),
            "payment_currency": "CNY",
            "payment_timing": "before",
            "refundable_on_cancel": True,
            "sla_hours": 48,
        },
        {
            "code": "installation",
            "name": "Installation on site",
            "requires_appointment": True,
            "appointment_minutes": 120,
            "requires_voucher": True,
            "min_photos": 1,
            "checklist": ["Cut-out measured", "Appliance level and connected"],
            "payment_share": Decimal("100"),
            "payment_timing": "before",
            "sla_hours": 96,
            "arrival_tolerance_minutes": 30,
        },
        {
            "code": "acceptance",
            "name": "Acceptance",
            "requires_approval": True,
            "max_rework_rounds": 1,
            "sla_hours": 48,
        },
    ],
}
