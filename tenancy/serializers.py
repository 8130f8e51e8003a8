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
