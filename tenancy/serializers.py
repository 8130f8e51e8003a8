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
    class Meta:
        model = Store
        fields = [
            "id", "merchant", "name", "code", "timezone", "address", "latitude", "longitude",
            "opens_at", "closes_at", "working_days",
        ]


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
