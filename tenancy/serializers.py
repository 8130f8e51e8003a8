from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from core.fields import StrictSlugField
from tenancy.models import Merchant, Store, User


class MerchantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Merchant
        fields = ["id", "name", "slug", "tier"]


class StoreSerializer(serializers.ModelSerializer):
    daily_capacity = serializers.SerializerMethodField(
        help_text='Visits per day the store takes for each skill a stage may require, e.g. {"install": 6}; a skill '
                  "not listed is unlimited. Set in the admin.")

    class Meta:
        model = Store
        fields = [
            "id", "merchant", "name", "code", "timezone", "address", "latitude", "longitude",
            "opens_at", "closes_at", "working_days", "travel_buffer_minutes", "daily_capacity",
        ]
        read_only_fields = fields

    def get_daily_capacity(self, store: Store) -> dict[str, int]:
        return {c.skill: c.visits_per_day for c in store.capacities.all()}  # prefetched by the view


class TechnicianSkillsSerializer(serializers.Serializer):
    skills = serializers.ListField(child=StrictSlugField(max_length=40), max_length=30,
                                   help_text='The skills a stage may require, e.g. ["measure", "install"].')


class TechnicianSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="display_name", read_only=True)
    stores = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "name", "phone", "stores", "skills"]


class MeSerializer(serializers.ModelSerializer):
    """The caller's own account. Only `language` can be changed here."""

    name = serializers.CharField(source="display_name", read_only=True)
    language = serializers.ChoiceField(
        choices=settings.LANGUAGES, allow_blank=True, required=True,
        help_text=_("Pages, messages and error details in this language; \"\" follows Accept-Language, "
                    "else Simplified Chinese (zh-hans)."),
    )
    active_language = serializers.SerializerMethodField(
        help_text=_("The language this response is in: `language`, else Accept-Language, else zh-hans."))

    class Meta:
        model = User
        fields = ["id", "username", "name", "role", "email", "phone", "language", "active_language"]
        read_only_fields = ["id", "username", "name", "role", "email", "phone"]

    def get_active_language(self, obj) -> str:
        return translation.get_language() or settings.LANGUAGE_CODE
