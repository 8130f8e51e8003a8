"""Tenants (merchants and their stores) and the users who act in them."""

import zoneinfo
from datetime import time

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from tenancy.scoping import TenantScope


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(value)s is not a known IANA time zone.") % {"value": repr(value)})


def default_working_days() -> list[int]:
    return [0, 1, 2, 3, 4, 5, 6]


class Merchant(models.Model):
    """A brand. Its tier decides which tools it gets (see tenancy.tiers)."""

    class Tier(models.TextChoices):
        BASIC = "basic", _("Basic")
        GROWTH = "growth", _("Growth")
        ENTERPRISE = "enterprise", _("Enterprise")

    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    tier = models.CharField(max_length=20, choices=Tier.choices, default=Tier.BASIC)
    # Kept by insights.webhooks (whenever an endpoint is saved or deleted): whether any of the merchant's
    # outbound webhook endpoints is active. It rides on the engine's order lock, so the events of the
    # many merchants without webhooks cost no lookup.
    has_active_webhooks = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    tenant_scope = TenantScope(merchant="pk", store_manager_sees="merchant")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        # has_active_webhooks is insights' to keep, under this row's lock: saving a merchant loaded
        # earlier (an admin form, say) must not write back its stale copy of the flag.
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                f.name for f in self._meta.concrete_fields if not f.primary_key and f.name != "has_active_webhooks"
            ]
        super().save(*args, **kwargs)


class Store(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="stores")
    name = models.CharField(max_length=200)
    code = models.SlugField(max_length=50)
    timezone = models.CharField(max_length=64, default="Asia/Shanghai", validators=[validate_timezone])
    address = models.CharField(max_length=300)
    latitude = models.DecimalField(max_digits=9, decimal_places=6)
    longitude = models.DecimalField(max_digits=9, decimal_places=6)
    opens_at = models.TimeField(default=time(9, 0))
    closes_at = models.TimeField(default=time(18, 0))
    # ISO weekday numbers Monday=0 .. Sunday=6 on which the store takes appointments.
    working_days = models.JSONField(default=default_working_days)
    # Time a technician keeps free between two of their visits (travel): no visit of theirs may start less than
    # this after another ends, nor end less than this before another starts. 0: back to back.
    travel_buffer_minutes = models.PositiveSmallIntegerField(
        _("travel buffer (minutes)"), default=0, validators=[MaxValueValidator(24 * 60)],
        help_text=_("Free time each technician keeps between two visits, for travel. 0: visits may be back to back."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    tenant_scope = TenantScope(merchant="merchant", store="pk", technician="staff")

    class Meta:
        ordering = ["merchant_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "code"], name="unique_store_code_per_merchant"),
            models.CheckConstraint(
                condition=models.Q(opens_at__lt=models.F("closes_at")), name="store_opens_before_close"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class Skill(models.Model):
    """One skill of the brand's list (测量, 安装 ...): what technicians may have and stages may require. A brand
    with no list yet may use any skill (tenancy.services.unknown_skills)."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="skills")
    code = models.SlugField(_("code"), max_length=40, help_text=_("Short code used by the API, e.g. install."))
    name = models.CharField(_("name"), max_length=40, help_text=_("What people read, e.g. 安装."))

    tenant_scope = TenantScope(merchant="merchant", store_manager_sees="merchant")

    class Meta:
        ordering = ["merchant_id", "code"]
        verbose_name = _("skill")
        verbose_name_plural = _("skills")
        constraints = [models.UniqueConstraint(fields=["merchant", "code"], name="unique_skill_per_merchant")]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @classmethod
    def unknown(cls, merchant_id: int | None, skills) -> list[str]:
        """The skills (codes) not on the brand's list; none while the brand has no list (any skill goes)."""
        wanted = [s for s in dict.fromkeys(skills) if s]
        known = set(cls.objects.filter(merchant_id=merchant_id).values_list("code", flat=True))
        return [s for s in wanted if s not in known] if known else []


class StoreCapacity(models.Model):
    """How many visits needing one skill (a stage's required skill) the store takes on one of its days (store
    time). No row for a skill: no limit. Bookings and moves lock this row while they count the day's visits
    (workflows.services.capacity), so two of them never both take the day's last place."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="capacities")
    skill = models.SlugField(_("skill"), max_length=40, help_text=_("A skill stages require, e.g. install."))
    visits_per_day = models.PositiveSmallIntegerField(
        _("visits per day"), help_text=_("Visits needing this skill the store takes per day. 0: none."),
    )

    tenant_scope = TenantScope(merchant="store__merchant", store="store")

    class Meta:
        ordering = ["store_id", "skill"]
        verbose_name = _("daily capacity")
        verbose_name_plural = _("daily capacities")
        constraints = [models.UniqueConstraint(fields=["store", "skill"], name="unique_capacity_per_store_skill")]

    def __str__(self) -> str:
        return f"{self.skill}: {self.visits_per_day}"

    def clean(self):
        if self.store_id and Skill.unknown(self.store.merchant_id, [self.skill]):
            raise ValidationError({"skill": _("Not among the brand's skills.")})


class User(AbstractUser):
    class Role(models.TextChoices):
        PLATFORM_OPERATOR = "platform_operator", _("Platform operator")
        MERCHANT_ADMIN = "merchant_admin", _("Merchant admin")
        STORE_MANAGER = "store_manager", _("Store manager")
        TECHNICIAN = "technician", _("Technician")
        CONSUMER = "consumer", _("Consumer")

    role = models.CharField(max_length=32, choices=Role.choices, default=Role.CONSUMER)
    # Merchant staff (admin, store manager, technician) belong to one merchant;
    # consumers and operators to none.
    merchant = models.ForeignKey(
        Merchant, on_delete=models.PROTECT, null=True, blank=True, related_name="staff"
    )
    # Store managers manage these stores; technicians work for them.
    stores = models.ManyToManyField(Store, blank=True, related_name="staff")
    phone = models.CharField(max_length=32, unique=True, null=True, blank=True)
    skills = models.JSONField(default=list, blank=True)
    # The person's own language for pages, API error details and messages (core/language.py). Empty: their
    # browser's Accept-Language, and the service's default (Simplified Chinese) for messages.
    language = models.CharField(
        _("language"), max_length=10, blank=True, choices=settings.LANGUAGES,
        help_text=_("Pages and messages in this language. Empty: the browser's language, else Simplified Chinese."),
    )

    objects = UserManager()

    tenant_scope = TenantScope(merchant="merchant", store="stores", consumer="pk", technician="pk")

    class Meta:
        ordering = ["username"]
        constraints = [
            models.CheckConstraint(
                name="staff_roles_have_a_merchant",
                condition=~models.Q(role__in=["merchant_admin", "store_manager", "technician"])
                | models.Q(merchant__isnull=False),
            ),
        ]

    def clean(self) -> None:
        super().clean()
        # One number, one spelling: the admin (and any form) stores the E.164 form (tenancy/phones.py).
        if self.phone:
            from tenancy.phones import InvalidPhone, normalize_phone

            try:
                self.phone = normalize_phone(self.phone)
            except InvalidPhone as exc:
                raise ValidationError({"phone": exc.message}) from None
        elif self.phone == "":
            self.phone = None  # blank is "no phone", never a second "" under the unique constraint
        if self.role in self.MERCHANT_ROLES and self.merchant_id is None:
            raise ValidationError({"merchant": "Merchant staff must belong to a merchant."})
        if self.role in (self.Role.CONSUMER, self.Role.PLATFORM_OPERATOR) and self.merchant_id is not None:
            raise ValidationError({"merchant": "Consumers and platform operators belong to no merchant."})
        unknown = Skill.unknown(self.merchant_id, self.skills or []) if isinstance(self.skills, list) else []
        if unknown:
            raise ValidationError({"skills": _("Not among the brand's skills: %(unknown)s.")
                                   % {"unknown": ", ".join(unknown)}})

    MERCHANT_ROLES = (Role.MERCHANT_ADMIN, Role.STORE_MANAGER, Role.TECHNICIAN)

    @property
    def is_operator(self) -> bool:
        return self.is_superuser or self.role == self.Role.PLATFORM_OPERATOR

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username
