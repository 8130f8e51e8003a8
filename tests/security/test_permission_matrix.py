"""Every API operation x every role, generated from the OpenAPI schema.

The operations come from the schema itself, so a new endpoint fails `test_every_operation_has_expectations`
until someone writes down who may use it. Each call is made against objects of tenant A by:
anonymous, tenant A's merchant admin, store manager, the technician assigned to the job, another
technician of the same store, the order's consumer, another consumer, the platform operator, and
tenant B's admin, store manager, technician and consumer.

Expectation per role: "ok" (the caller reaches the object: any answer but 401/403/404 and never a
5xx), 403 (the role may never do this), 404 (the object is not visible), 401 (anonymous).
Responses to callers who are not tenant A's people must not mention tenant A's order or consumer.
"""

import json
import re
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from fieldwork import services as fieldwork
from payments.services import payment_account_set, revision_propose
from tests.factories.fieldwork import image_bytes, starting_soon
from tests.factories.payments import pay_due_installments
from tests.factories.workflows import StageSubmissionFileFactory, make_order, make_template, stage_of
from tests.payments.fake_providers import keypair
from workflows import services

ROLES = ["anon", "admin", "manager", "tech", "tech2", "consumer", "consumer2", "ops",
         "x_admin", "x_manager", "x_tech", "x_consumer"]
AUTHENTICATED = set(ROLES) - {"anon"}
STAFF_A = {"admin", "manager", "ops"}
TENANT_B = {"x_admin", "x_manager", "x_tech", "x_consumer"}
OUTSIDERS = TENANT_B | {"consumer2", "tech2"}
CONSUMERS = {"consumer", "consumer2", "x_consumer"}
TECHS = {"tech", "tech2", "x_tech"}
NOT_AUTHORS = {"manager", "x_manager", "ops"}  # templates are authored by the merchant's admin only


def rule(ok, forbidden=(), anon=401):
    """`ok` and `forbidden` role sets; every other authenticated role gets 404."""
    ok, forbidden = set(ok), set(forbidden)
    expected = {role: 404 for role in AUTHENTICATED}
    expected.update({role: 403 for role in forbidden})
    expected.update({role: "ok" for role in ok})
    expected["anon"] = anon
    return expected


EVERYONE = rule(AUTHENTICATED)
# Logout is asked of every role once, last for its test: the fixture makes fresh tokens for every test.
EXPECTATIONS = {
    ("post", "/api/v1/auth/token/"): rule(AUTHENTICATED, anon="ok"),
    ("post", "/api/v1/auth/logout/"): EVERYONE,
    ("get", "/api/v1/auth/me/"): EVERYONE,  # each caller's own account
    ("patch", "/api/v1/auth/me/"): EVERYONE,
    ("post", "/api/v1/payments/webhooks/{provider}/"): rule(AUTHENTICATED, anon="ok"),
    # the providers' notifications: the signature is the authentication (an unsigned one answers 400 to anyone)
    ("post", "/api/v1/payments/notify/alipay/{account_id}/"): rule(AUTHENTICATED, anon="ok"),
    ("post", "/api/v1/payments/notify/wechatpay/{account_id}/"): rule(AUTHENTICATED, anon="ok"),
    # tenancy
    ("get", "/api/v1/stores/"): EVERYONE,
    ("get", "/api/v1/stores/{id}/"): rule(STAFF_A | {"tech", "tech2"}),
    ("get", "/api/v1/technicians/"): EVERYONE,
    ("get", "/api/v1/technicians/{id}/"): rule(STAFF_A | {"tech"}),
    ("get", "/api/v1/technicians/{id}/skills/"): rule(STAFF_A | {"tech"}),
    ("put", "/api/v1/technicians/{id}/skills/"): rule(STAFF_A, forbidden={"tech"}),
    # a store's own values within its brand's bounds: its manager and the brand's admin set them
    ("get", "/api/v1/stores/{id}/overrides/{template_id}/"): rule(STAFF_A),
    ("put", "/api/v1/stores/{id}/overrides/{template_id}/"): rule({"admin", "manager"}, forbidden={"ops"}),
    # templates: merchant staff only, edits by the merchant admin
    ("get", "/api/v1/templates/"): rule(STAFF_A | {"x_admin", "x_manager"}, forbidden=TECHS | CONSUMERS),
    ("post", "/api/v1/templates/"): rule({"admin", "x_admin"}, forbidden=TECHS | CONSUMERS | NOT_AUTHORS),
    ("get", "/api/v1/templates/{id}/"): rule(STAFF_A, forbidden=TECHS | CONSUMERS),
    ("patch", "/api/v1/templates/{id}/"): rule({"admin"}, forbidden=TECHS | CONSUMERS | NOT_AUTHORS),
    ("post", "/api/v1/templates/{id}/publish/"): rule({"admin"}, forbidden=TECHS | CONSUMERS | NOT_AUTHORS),
    ("post", "/api/v1/templates/{id}/distribute/"): rule({"admin"}, forbidden=TECHS | CONSUMERS | NOT_AUTHORS),
    ("get", "/api/v1/templates/{id}/diagram/"): rule(STAFF_A, forbidden=TECHS | CONSUMERS),
    ("get", "/api/v1/templates/{id}/split-preview/"): rule(STAFF_A, forbidden=TECHS | CONSUMERS),
    ("get", "/api/v1/templates/{id}/store-bounds/"): rule(STAFF_A, forbidden=TECHS | CONSUMERS),
    ("put", "/api/v1/templates/{id}/store-bounds/"): rule({"admin"}, forbidden=TECHS | CONSUMERS | NOT_AUTHORS),
    # orders
    ("get", "/api/v1/orders/"): EVERYONE,
    ("post", "/api/v1/orders/"): rule(STAFF_A | {"x_admin", "x_manager"}, forbidden=TECHS | CONSUMERS),
    ("get", "/api/v1/orders/{id}/"): rule(STAFF_A | {"tech", "consumer"}),
    ("post", "/api/v1/orders/{id}/cancel/"): rule(STAFF_A | {"consumer"}, forbidden=TECHS),
    ("get", "/api/v1/orders/{id}/slots/"): rule(STAFF_A | {"tech", "consumer"}),
    ("get", "/api/v1/orders/{id}/evidence/"): rule(STAFF_A | {"tech", "consumer"}),
    ("get", "/api/v1/orders/{id}/evidence/{evidence_id}/file/"): rule(STAFF_A | {"tech", "consumer"}),
    ("post", "/api/v1/orders/{id}/appointments/"): rule({"admin", "manager", "consumer"}, forbidden=TECHS | {"ops"}),
    ("get", "/api/v1/appointments/"): EVERYONE,
    ("get", "/api/v1/appointments/{id}/"): rule(STAFF_A | {"tech", "consumer"}),
    ("post", "/api/v1/appointments/{id}/assign/"): rule(STAFF_A, forbidden=TECHS | CONSUMERS),
    ("post", "/api/v1/appointments/{id}/reschedule/"): rule(STAFF_A | {"consumer"}, forbidden=TECHS),
    # stages
    ("get", "/api/v1/stages/{id}/"): rule(STAFF_A | {"tech", "consumer"}),
    ("get", "/api/v1/stages/{id}/files/{file_id}/"): rule(STAFF_A | {"tech", "consumer"}),
    ("post", "/api/v1/stages/{id}/submit/"): rule({"admin", "manager"}, forbidden=TECHS | CONSUMERS | {"ops"}),
    ("post", "/api/v1/stages/{id}/start/"): rule({"admin", "manager"}, forbidden=TECHS | CONSUMERS | {"ops"}),
    ("post", "/api/v1/stages/{id}/resume/"): rule({"admin", "manager"}, forbidden=TECHS | CONSUMERS | {"ops"}),
    ("post", "/api/v1/stages/{id}/approve/"): rule({"consumer"}, forbidden=TECHS | STAFF_A | {"x_admin", "x_manager"}),
    ("post", "/api/v1/stages/{id}/reject/"): rule({"consumer"}, forbidden=TECHS | STAFF_A | {"x_admin", "x_manager"}),
    # payments
    ("get", "/api/v1/installments/"): EVERYONE,
    ("get", "/api/v1/installments/{id}/"): rule(STAFF_A | {"consumer"}),
    ("post", "/api/v1/installments/{id}/pay/"): rule({"admin", "manager", "consumer"}, forbidden=TECHS | {"ops"}),
    ("get", "/api/v1/payments/"): EVERYONE,
    ("get", "/api/v1/payments/{id}/"): rule(STAFF_A | {"consumer"}),
    ("get", "/api/v1/payments/{id}/qr/"): rule(STAFF_A | {"consumer"}),
    ("post", "/api/v1/payments/{id}/refund/"): rule({"admin", "manager"}, forbidden=TECHS | CONSUMERS | {"ops"}),
    # price revisions: store staff propose, the order's consumer answers; technicians never see an order's money
    ("get", "/api/v1/orders/{id}/revisions/"): rule(STAFF_A | {"consumer"}, forbidden=TECHS),
    ("post", "/api/v1/orders/{id}/revisions/"): rule({"admin", "manager"}, forbidden=TECHS | CONSUMERS | {"ops"}),
    ("post", "/api/v1/revisions/{id}/accept/"): rule({"consumer"},
                                                     forbidden=TECHS | STAFF_A | {"x_admin", "x_manager"}),
    ("post", "/api/v1/revisions/{id}/decline/"): rule({"consumer"},
                                                      forbidden=TECHS | STAFF_A | {"x_admin", "x_manager"}),
    # the consumer's rating of a completed order (portal): its consumer only
    ("post", "/api/v1/orders/{id}/rating/"): rule({"consumer"}, forbidden=TECHS | STAFF_A | {"x_admin", "x_manager"}),
    # vouchers
    ("get", "/api/v1/vouchers/"): EVERYONE,
    ("get", "/api/v1/vouchers/{id}/"): rule(STAFF_A | {"tech", "consumer"}),
    ("get", "/api/v1/vouchers/{id}/qr/"): rule({"consumer"}),
    ("post", "/api/v1/vouchers/redeem/"): rule(TECHS | {"admin", "manager", "x_admin", "x_manager"},
                                               forbidden=CONSUMERS | {"ops"}),
    # the technician's phone
    ("get", "/api/v1/technician/jobs/"): rule(TECHS, forbidden=AUTHENTICATED - TECHS),
    ("get", "/api/v1/technician/jobs/{job_id}/"): rule({"tech"}, forbidden=AUTHENTICATED - TECHS),
    ("post", "/api/v1/technician/jobs/{job_id}/check-in/"): rule({"tech"}, forbidden=AUTHENTICATED - TECHS),
    ("post", "/api/v1/technician/jobs/{job_id}/check-out/"): rule({"tech"}, forbidden=AUTHENTICATED - TECHS),
    ("post", "/api/v1/technician/jobs/{job_id}/checklist/"): rule({"tech"}, forbidden=AUTHENTICATED - TECHS),
    ("post", "/api/v1/technician/jobs/{job_id}/evidence/"): rule({"tech"}, forbidden=AUTHENTICATED - TECHS),
    ("post", "/api/v1/technician/jobs/{job_id}/complete/"): rule({"tech"}, forbidden=AUTHENTICATED - TECHS),
    ("post", "/api/v1/technician/sync/"): rule(TECHS, forbidden=AUTHENTICATED - TECHS),
    # the platform
    ("get", "/api/v1/platform/metrics/"): rule({"ops", "admin", "manager", "x_admin", "x_manager"},
                                               forbidden=TECHS | CONSUMERS),
}


def generated_operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        (method, path)
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    )


def test_every_operation_has_expectations():
    missing = [op for op in generated_operations() if op not in EXPECTATIONS]
    assert not missing, f"write down who may call these new operations: {missing}"
    stale = [op for op in EXPECTATIONS if op not in generated_operations()]
    assert not stale, f"expectations for operations that no longer exist: {stale}"


@pytest.fixture
def world(merchant, store, merchant_admin, store_manager, technician, technician2, consumer, consumer2, operator,
          other_admin, other_store_manager, other_technician, other_consumer, client_for, anon_client):
    from payments.models import Installment
    from vouchers.models import Voucher

    template = make_template(merchant=merchant, stores=[store])
    order = make_order(store=store, consumer=consumer, template=template)
    pay_due_installments(order)
    measuring = stage_of(order, "measuring")
    slot = services.appointment_slots(stage=measuring)[0]
    appointment = services.appointment_book(stage=measuring, window_start=slot.start, actor=consumer)
    appointment = services.appointment_assign(appointment=appointment, technician=technician, actor=store_manager)
    appointment = starting_soon(appointment)  # the visit's day
    # The technician checks in and takes a photo, so the order's evidence (and its file) can be reached.
    fieldwork.job_check_in(technician=technician, job_id=appointment.pk, client_event_id=uuid.uuid4(),
                           recorded_at=timezone.now(), latitude=order.latitude, longitude=order.longitude)
    photo = fieldwork.job_evidence_add(technician=technician, job_id=appointment.pk, client_event_id=uuid.uuid4(),
                                       kind="photo", file=SimpleUploadedFile("p.png", image_bytes("PNG")))
    # A file attached to the stage, so a stage's file can be reached (the order's scope decides who may).
    submission_file = StageSubmissionFileFactory(stage=measuring)
    installment = Installment.objects.get(order=order, stage__definition__code="booking")
    revision = revision_propose(order=order, actor=store_manager, total_amount="13000.00", reason="measured",
                                lines=[{"description": "Extra shelf", "amount": "1000.00"}])
    app, alipay_key = keypair("matrix-app"), keypair("matrix-alipay")
    account, _ = payment_account_set(merchant=merchant, provider="alipay", app_id="2021000000000001",
                                     private_key=app.private_pem, provider_public_key=alipay_key.public_pem)
    wechat, _ = payment_account_set(merchant=merchant, provider="wechatpay", app_id="wx1", mch_id="1900000109",
                                    merchant_serial_no="S1", private_key=app.private_pem, apiv3_key="k" * 32,
                                    provider_public_key=alipay_key.public_pem, provider_public_key_id="PUB_KEY_ID_1")
    ids = {
        "templates": template.pk, "orders": order.pk, "appointments": appointment.pk, "stages": measuring.pk,
        "installments": installment.pk, "payments": installment.payments.first().pk,
        "vouchers": Voucher.objects.get(order=order).pk, "jobs": appointment.pk, "stores": store.pk,
        "technicians": technician.pk, "provider": "sandbox", "evidence": photo.data["id"],
        "stage_files": submission_file.pk, "alipay": account.pk, "wechatpay": wechat.pk,
        "revisions": revision.pk,
    }
    users = {"admin": merchant_admin, "manager": store_manager, "tech": technician, "tech2": technician2,
             "consumer": consumer, "consumer2": consumer2, "ops": operator, "x_admin": other_admin,
             "x_manager": other_store_manager, "x_tech": other_technician, "x_consumer": other_consumer}
    clients = {name: client_for(user) for name, user in users.items()}
    clients["anon"] = anon_client
    secrets = [order.number, consumer.phone, consumer.username]
    return {"ids": ids, "clients": clients, "secrets": secrets}


def concrete(path: str, ids: dict) -> str:
    path = path.replace("{provider}", ids["provider"]).replace("{job_id}", str(ids["jobs"]))
    if "{account_id}" in path:
        path = path.replace("{account_id}", str(ids[path.split("/")[5]]))
    path = path.replace("{evidence_id}", str(ids["evidence"])).replace("{file_id}", str(ids["stage_files"]))
    path = path.replace("{template_id}", str(ids["templates"]))
    if "{id}" in path:
        path = path.replace("{id}", str(ids[path.split("/")[3]]))
    return path


# Roles that are refused are asked first, so an allowed call that changes state comes after them.
ORDER = sorted(ROLES, key=lambda r: r in ("admin", "manager", "tech", "consumer", "ops"))


@pytest.mark.parametrize("operation", sorted(EXPECTATIONS), ids=lambda op: f"{op[0].upper()} {op[1]}")
def test_permission_matrix(world, operation):
    method, path = operation
    url = concrete(path, world["ids"])
    failures = []
    for role in ORDER:
        expected = EXPECTATIONS[operation][role]
        client = world["clients"][role]
        response = getattr(client, method)(url, {}, format="json") if method != "get" else client.get(url)
        status = response.status_code
        if status >= 500:
            failures.append(f"{role}: {status} (server error)")
        elif expected == "ok" and status in (401, 403, 404):
            failures.append(f"{role}: expected to reach it, got {status}")
        elif expected != "ok" and status != expected:
            failures.append(f"{role}: expected {expected}, got {status}")
        if role in OUTSIDERS | {"anon"} and 200 <= status < 300:
            body = response.content.decode(errors="replace")
            # Whole values only: consumer2's own username "a_consumer2" is not tenant A's "a_consumer".
            leaked = [s for s in world["secrets"] if s and re.search(rf"(?<!\w){re.escape(s)}(?!\w)", body)]
            if leaked:
                failures.append(f"{role}: response leaks tenant A's {leaked}: {json.dumps(body[:200])}")
    assert not failures, f"{method.upper()} {url}:\n" + "\n".join(failures)
