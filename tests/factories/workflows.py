"""Builders for workflows objects. They go through the services, so a test's template and order
are made exactly as the product makes them (published versions, stage instances, first events); the one
factory-boy factory attaches a stored file to any stage directly."""

import copy
import io
from decimal import Decimal

import factory
from django.core.files.base import ContentFile
from PIL import Image

from workflows import services
from workflows.models import ServiceOrder, StageInstance, StageSubmissionFile, WorkflowTemplate
from workflows.reference import CUSTOM_WARDROBE


def make_template(*, merchant, stores=(), definition=None, publish=True, **overrides) -> WorkflowTemplate:
    """A template (the reference wardrobe by default), published and distributed to `stores`."""
    data = copy.deepcopy(definition or CUSTOM_WARDROBE)
    data.update(overrides)
    template = services.template_create(merchant=merchant, name=data["name"],
                                        description=data.get("description", ""), stages=data["stages"])
    if publish:
        services.template_publish(template=template)
        if stores:
            services.template_distribute(template=template, stores=list(stores))
    return template


def make_order(*, store, consumer, template=None, total=Decimal("12000.00"), currency="CNY",
               definition=None, actor=None) -> ServiceOrder:
    """An order at `store` for `consumer`, from `template` (made and distributed when not given)."""
    if template is None:
        template = make_template(merchant=store.merchant, stores=[store], definition=definition)
    return services.order_create(
        template=template, store=store, consumer=consumer, total_amount=Decimal(total), currency=currency,
        service_address=store.address, latitude=store.latitude, longitude=store.longitude, actor=actor,
    )


def stage_of(order: ServiceOrder, code: str) -> StageInstance:
    return order.stages.select_related("definition").get(definition__code=code)


def linear_stages(n: int, **stage_overrides) -> dict:
    """A template definition of n plain stages (for size and query-count tests)."""
    return {
        "name": f"{n}-stage workflow",
        "stages": [{"code": f"s{i}", "name": f"Stage {i}", **stage_overrides} for i in range(1, n + 1)],
    }


def pdf_bytes(color=(235, 228, 215)) -> bytes:
    """A real one-page PDF (Pillow writes it, with its creation time: two calls may differ)."""
    buf = io.BytesIO()
    Image.new("RGB", (60, 80), color).save(buf, format="PDF")
    return buf.getvalue()


class StageSubmissionFileFactory(factory.django.DjangoModelFactory):
    """A PDF attached to `stage` (required) without the submit service: for a file on a stage that the service
    would not take one for (an on-site stage), or a row standing for one stored before uploads were checked."""

    class Meta:
        model = StageSubmissionFile

    class Params:
        data = factory.LazyFunction(pdf_bytes)

    file = factory.LazyAttribute(lambda o: ContentFile(o.data, name="upload"))
    original_name = "draft.pdf"
    content_type = "application/pdf"
    size = factory.LazyAttribute(lambda o: len(o.data))
