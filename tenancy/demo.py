"""The demo tenants and accounts of the API contract, loaded idempotently.

`load_tenancy_demo()` can run any number of times: rows are matched by their natural keys
(merchant slug, store code, username) and only fields that differ are written, and a password
that already checks is not reset. Every account's password is DEMO_PASSWORD.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from typing import Any

from django.db import models, transaction

from tenancy.models import Merchant, Skill, Store, StoreCapacity, User

DEMO_PASSWORD = "demo-pass-123"  # noqa: S105 - the documented demo password
MON_TO_SAT = [0, 1, 2, 3, 4, 5]

MERCHANTS = {
    "lumen": {"name": "Lumen Custom Furniture", "tier": Merchant.Tier.ENTERPRISE},
    "harbor": {"name": "Harbor Appliances", "tier": Merchant.Tier.GROWTH},
}

STORES = [
    # (merchant slug, code, fields)
    ("lumen", "jingan", {
        "name": "Lumen Jing'an Showroom",
        "address": "1266 West Nanjing Road, Jing'an District, Shanghai 200040",
        "latitude": Decimal("31.229580"), "longitude": Decimal("121.454620"),
        "travel_buffer_minutes": 30,  # across central Shanghai between two visits
    }),
    ("lumen", "pudong", {
        "name": "Lumen Pudong Design Center",
        "address": "100 Century Avenue, Pudong New Area, Shanghai 200120",
        "latitude": Decimal("31.234560"), "longitude": Decimal("121.505780"),
    }),
    ("harbor", "xihu", {
        "name": "Harbor West Lake Service Center",
        "address": "478 Wensan Road, Xihu District, Hangzhou 310013",
        "latitude": Decimal("30.277020"), "longitude": Decimal("120.133980"),
    }),
]

# Each brand's list of skills (code, name): what its technicians may have and its stages may require.
SKILLS = {
    "lumen": [("measure", "测量"), ("design", "设计"), ("install", "安装"), ("repair", "维修")],
    "harbor": [("install", "安装"), ("repair", "维修")],
}

# (store code, skill, visits per day): the showroom's two technicians install at most 6 times a day.
CAPACITIES = [("jingan", "install", 6), ("jingan", "measure", 8)]

R = User.Role
USERS = [
    # (username, role, merchant slug, store codes, fields)
    ("brand_admin", R.MERCHANT_ADMIN, "lumen", [], {"first_name": "Wei", "last_name": "Li"}),
    ("store_manager", R.STORE_MANAGER, "lumen", ["jingan"], {"first_name": "Fang", "last_name": "Zhou"}),
    ("tech_li", R.TECHNICIAN, "lumen", ["jingan"], {
        "first_name": "李师傅", "phone": "+8613900000001", "skills": ["measure", "install"],
    }),
    ("tech_wang", R.TECHNICIAN, "lumen", ["jingan"], {
        "first_name": "王师傅", "phone": "+8613900000002", "skills": ["install", "repair"],
    }),
    ("consumer_zhang", R.CONSUMER, None, [], {
        "first_name": "Min", "last_name": "Zhang", "phone": "+8613800000001", "email": "zhang@example.com",
    }),
    ("consumer_chen", R.CONSUMER, None, [], {
        "first_name": "Jing", "last_name": "Chen", "phone": "+8613800000002", "email": "chen@example.com",
    }),
    ("ops", R.PLATFORM_OPERATOR, None, [], {"first_name": "Platform", "last_name": "Operations"}),
    ("other_admin", R.MERCHANT_ADMIN, "harbor", [], {"first_name": "Lei", "last_name": "Sun"}),
    ("other_manager", R.STORE_MANAGER, "harbor", ["xihu"], {"first_name": "Yan", "last_name": "Wu"}),
    ("tech_zhao", R.TECHNICIAN, "harbor", ["xihu"], {
        "first_name": "赵师傅", "phone": "+8613900000003", "skills": ["install"],
    }),
    ("consumer_wu", R.CONSUMER, None, [], {
        "first_name": "Hao", "last_name": "Wu", "phone": "+8613800000003", "email": "wu@example.com",
    }),
]

STAFF_ROLES = (R.MERCHANT_ADMIN, R.STORE_MANAGER, R.PLATFORM_OPERATOR)


def _upsert(model: type[models.Model], lookup: dict[str, Any], values: dict[str, Any]):
    """get_or_create by `lookup`, then write only the fields whose value differs."""
    obj, created = model.objects.get_or_create(**lookup, defaults=values)
    if not created:
        changed = [name for name, value in values.items() if getattr(obj, name) != value]
        if changed:
            for name in changed:
                setattr(obj, name, values[name])
            obj.save(update_fields=changed)
    return obj


@transaction.atomic
def load_tenancy_demo() -> dict[str, Any]:
    merchants = {slug: _upsert(Merchant, {"slug": slug}, values) for slug, values in MERCHANTS.items()}

    stores: dict[str, Store] = {}
    for slug, code, values in STORES:
        stores[code] = _upsert(
            Store,
            {"merchant": merchants[slug], "code": code},
            {
                **values,
                "timezone": "Asia/Shanghai",
                "opens_at": time(9, 0),
                "closes_at": time(18, 0),
                "working_days": MON_TO_SAT,
            },
        )

    for slug, skills in SKILLS.items():
        for code, name in skills:
            _upsert(Skill, {"merchant": merchants[slug], "code": code}, {"name": name})

    for code, skill, per_day in CAPACITIES:
        _upsert(StoreCapacity, {"store": stores[code], "skill": skill}, {"visits_per_day": per_day})

    users: dict[str, User] = {}
    for username, role, slug, store_codes, values in USERS:
        user = _upsert(
            User,
            {"username": username},
            {
                "email": f"{username}@demo.example.com",
                **values,
                "role": role,
                "merchant": merchants[slug] if slug else None,
                "is_staff": role in STAFF_ROLES,
                "is_active": True,
            },
        )
        if not user.check_password(DEMO_PASSWORD):
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        wanted = {stores[code].pk for code in store_codes}
        if set(user.stores.values_list("pk", flat=True)) != wanted:
            user.stores.set(wanted)
        users[username] = user

    return {
        "merchant": merchants["lumen"],
        "other_merchant": merchants["harbor"],
        "stores": [stores["jingan"], stores["pudong"]],
        "other_stores": [stores["xihu"]],
        "users": users,
    }
