"""The order detail body matches its published OpenAPI schema, in every state the demo puts orders in:
every key the body has is declared (the sections other apps add included), with its type.

The detail is built by plain functions (fast) while the schema comes from OrderDetailSerializer's declared
fields: this test keeps the two in step on every run of the suite (the fuzzer checks it too, but only on
PostgreSQL in CI and only for the orders its requests happen to reach)."""

import copy

import pytest
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator
from jsonschema import Draft202012Validator

from tenancy.models import User
from workflows.models import ServiceOrder


def _as_json_schema(node):
    """OpenAPI 3.0's `nullable: true` as JSON Schema's null alternative; component refs kept as they are.
    An object with declared properties admits no other key: a field the body has and the schema lacks fails."""
    if isinstance(node, list):
        return [_as_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _as_json_schema(v) for k, v in node.items()}
    if "properties" in node and "additionalProperties" not in node:
        node["additionalProperties"] = False
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


@pytest.fixture
def detail_validator():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = _as_json_schema(copy.deepcopy(schema["components"]))
    root = {"$ref": "#/components/schemas/OrderDetail", "components": components}
    return Draft202012Validator(root)


@pytest.mark.django_db
def test_every_demo_order_detail_matches_the_schema(client_for, detail_validator, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    call_command("load_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    manager = User.objects.get(username="store_manager")
    orders = list(ServiceOrder.objects.select_related("consumer").order_by("pk"))
    states = set()
    for order in orders:
        for viewer in (order.consumer, manager):  # the owner sees voucher codes, staff do not
            response = client_for(viewer).get(f"/api/v1/orders/{order.pk}/")
            if viewer is manager and response.status_code == 404:
                continue  # an order of the other brand
            assert response.status_code == 200, response.content[:200]
            errors = sorted(detail_validator.iter_errors(response.json()), key=lambda e: list(e.path))
            assert not errors, f"{order.state} as {viewer.role}: " + "; ".join(
                f"{'/'.join(map(str, e.path))}: {e.message[:160]}" for e in errors[:5]
            )
        states.add(order.state)
    assert {"completed", "cancelled", "closing", "design:awaiting_approval"} <= states
