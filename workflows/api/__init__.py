"""The workflows API, by resource: templates, orders, visits, stages."""

from workflows.api.orders import OrderViewSet
from workflows.api.stages import StageFileApi, StageViewSet
from workflows.api.store_overrides import StoreOverridesApi
from workflows.api.templates import TemplateViewSet
from workflows.api.visits import AppointmentViewSet

__all__ = ["AppointmentViewSet", "OrderViewSet", "StageFileApi", "StageViewSet", "StoreOverridesApi",
           "TemplateViewSet"]
