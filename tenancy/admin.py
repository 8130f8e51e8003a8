from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist, ValidationError

from tenancy import policy
from tenancy.models import Merchant, Skill, Store, StoreCapacity, User
from tenancy.phones import phone_or_none
from tenancy.scoping import visible_to

Role = User.Role


class TenantScopedAdmin(admin.ModelAdmin):
    """Admin whose rows, choices and permissions follow tenancy.scoping.

    Operators see and edit everything. Merchant admins and store managers see what the
    model's TenantScope gives their role, and edit only where the admin class allows them.
    A row outside the scope is absent from the queryset, so opening it by URL gives
    the admin's "does not exist" redirect, never the object.
    """

    # Who may see and who may change these records: actions of tenancy/policy.py.
    view_action = "admin.view"
    edit_action = "admin.edit"
    # Record-keeping models (events, ledger) set this so nobody edits them, operators included.
    read_only_records = False

    def get_queryset(self, request):
        return visible_to(super().get_queryset(request), request.user)

    def _role_allowed(self, request, action: str) -> bool:
        user = request.user
        return user.is_active and user.is_staff and policy.may(user, action)

    def has_module_permission(self, request):
        return self._role_allowed(request, self.view_action)

    def has_view_permission(self, request, obj=None):
        return self._role_allowed(request, self.view_action)

    def has_add_permission(self, request):
        return not self.read_only_records and self._role_allowed(request, self.edit_action)

    def has_change_permission(self, request, obj=None):
        return not self.read_only_records and self._role_allowed(request, self.edit_action)

    def has_delete_permission(self, request, obj=None):
        return not self.read_only_records and self._role_allowed(request, self.edit_action)

    def _has_merchant_field(self) -> bool:
        return any(f.name == "merchant" for f in self.model._meta.fields)

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if self._has_merchant_field() and not request.user.is_operator:
            exclude.append("merchant")
        return exclude

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if not self._has_merchant_field() or request.user.is_operator:
            return form
        return _merchant_bound_form(form, request.user.merchant_id)

    def get_list_filter(self, request):
        # A plain related filter lists every row of the related model (every merchant, every
        # store); for merchant staff list only the values present in their own rows.
        filters = super().get_list_filter(request)
        if request.user.is_operator:
            return filters
        return tuple(_scoped_filter(self.model, f) for f in filters)

    def save_model(self, request, obj, form, change):
        if self._has_merchant_field() and not request.user.is_operator and not obj.merchant_id:
            obj.merchant_id = request.user.merchant_id
        super().save_model(request, obj, form, change)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and hasattr(db_field.related_model, "tenant_scope"):
            field.queryset = visible_to(field.queryset, request.user)
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and hasattr(db_field.related_model, "tenant_scope"):
            field.queryset = visible_to(field.queryset, request.user)
        return field


def _merchant_bound_form(form_class, merchant_id):
    """The admin's form with the instance's merchant fixed before validation.

    The merchant field is hidden from merchant staff, so without this the model's clean() and
    the (merchant, ...) unique constraints would run against no merchant: a crash (500) or a
    duplicate reaching the database.
    """

    class MerchantBoundForm(form_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if not self.instance.merchant_id:
                self.instance.merchant_id = merchant_id

        def _get_validation_exclusions(self):
            exclude = super()._get_validation_exclusions()
            exclude.discard("merchant")
            return exclude

        def _update_errors(self, errors):
            # A model error on a field the form hides (merchant) is shown at the top of the form.
            if hasattr(errors, "error_dict"):
                remapped: dict = {}
                for field, messages in errors.error_dict.items():
                    key = field if field in self.fields else NON_FIELD_ERRORS
                    remapped.setdefault(key, []).extend(messages)
                errors = ValidationError(remapped)
            super()._update_errors(errors)

    MerchantBoundForm.__name__ = form_class.__name__
    return MerchantBoundForm


def _scoped_filter(model, list_filter):
    if not isinstance(list_filter, str) or "__" in list_filter:
        return list_filter
    try:
        field = model._meta.get_field(list_filter)
    except FieldDoesNotExist:
        return list_filter
    if field.is_relation and hasattr(field.related_model, "tenant_scope"):
        return (list_filter, admin.RelatedOnlyFieldListFilter)
    return list_filter


class TenantScopedInline:
    """Mixin for inlines: permissions follow the parent admin's rules."""

    edit_action = "admin.edit"

    def _allowed(self, request, action: str) -> bool:
        user = request.user
        return user.is_active and user.is_staff and policy.may(user, action)

    def has_view_permission(self, request, obj=None):
        return self._allowed(request, "admin.view")

    def has_add_permission(self, request, obj=None):
        return self._allowed(request, self.edit_action)

    def has_change_permission(self, request, obj=None):
        return self._allowed(request, self.edit_action)

    def has_delete_permission(self, request, obj=None):
        return self._allowed(request, self.edit_action)


class PhoneSearchMixin:
    """Admin search that finds a phone in any spelling: phones are stored in E.164, so `138 0000 0001` is also
    looked for as `+8613800000001` in `phone_search_field`."""

    phone_search_field = "phone"

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        phone = phone_or_none(search_term)
        if phone:
            results = results | queryset.filter(**{self.phone_search_field: phone})
        return results, may_have_duplicates


@admin.register(Merchant)
class MerchantAdmin(TenantScopedAdmin):
    list_display = ("name", "slug", "tier", "created_at")
    list_filter = ("tier",)
    search_fields = ("name", "slug")
    edit_action = "admin.platform"  # merchants are created and tiered by the platform

    def get_readonly_fields(self, request, obj=None):
        return () if request.user.is_operator else ("tier",)


@admin.register(Skill)
class SkillAdmin(TenantScopedAdmin):
    """The brand's list of skills: what its technicians may have and its stages may require."""

    list_display = ("name", "code", "merchant")
    search_fields = ("name", "code")


class StoreCapacityInline(TenantScopedInline, admin.TabularInline):
    """The store's daily capacity per skill (workflows.services.capacity): a skill without a row is unlimited."""

    model = StoreCapacity
    extra = 0


@admin.register(Store)
class StoreAdmin(TenantScopedAdmin):
    list_display = ("name", "code", "merchant", "timezone", "opens_at", "closes_at", "travel_buffer_minutes")
    list_filter = ("merchant",)
    search_fields = ("name", "code", "address")
    inlines = (StoreCapacityInline,)


@admin.register(User)
class UserAdmin(PhoneSearchMixin, TenantScopedAdmin, DjangoUserAdmin):
    list_display = ("username", "role", "merchant", "phone", "email", "is_active")
    list_filter = ("role", "is_active")
    search_fields = ("username", "first_name", "last_name", "email", "phone")
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("Role", {"fields": ("role", "merchant", "stores", "phone", "skills", "language")}),
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        ("Role", {"fields": ("role", "merchant", "stores", "phone", "language")}),
    )
    filter_horizontal = ("stores", "groups", "user_permissions")

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_operator:
            return fieldsets
        # Merchant admins manage their staff, never permissions or superuser flags.
        hidden = {"is_superuser", "groups", "user_permissions", "merchant", "is_staff"}
        return [
            (name, {**opts, "fields": tuple(f for f in opts["fields"] if f not in hidden)})
            for name, opts in fieldsets
        ]

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        field = super().formfield_for_choice_field(db_field, request, **kwargs)
        if db_field.name == "role" and not request.user.is_operator:
            field.choices = [c for c in field.choices if c[0] in User.MERCHANT_ROLES]
        return field

    def save_model(self, request, obj, form, change):
        if not request.user.is_operator:
            obj.merchant_id = request.user.merchant_id
        obj.is_staff = obj.role in (Role.MERCHANT_ADMIN, Role.STORE_MANAGER, Role.PLATFORM_OPERATOR)
        super().save_model(request, obj, form, change)
