"""The product brief's reference flow, end to end through the HTTP API, as each role's client
would call it: a custom wardrobe of 12,000.00 CNY from template to completed order."""

import copy
import io
import itertools
import uuid
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from tests.factories.fieldwork import starting_soon
from workflows.events import verify_chain
from workflows.models import Appointment, OrderEvent
from workflows.reference import CUSTOM_WARDROBE

_SHADES = itertools.count()


def photo(name="site.png"):
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 90, next(_SHADES))).save(buf, format="PNG")  # the same photo twice is a 409
    return SimpleUploadedFile(name, buf.getvalue(), content_type="image/png")


class Flow:
    def __init__(self, client_for, admin, manager, technician, consumer, store):
        self.admin, self.manager = client_for(admin), client_for(manager)
        self.tech, self.consumer = client_for(technician), client_for(consumer)
        self.store, self.technician, self.consumer_user = store, technician, consumer
        self.order_id = None

    def ok(self, response, status=(200, 201)):
        assert response.status_code in ((status,) if isinstance(status, int) else status), (
            response.status_code,
            response.content[:800],
        )
        return response.json() if response["Content-Type"].startswith("application/json") else response

    def detail(self):
        return self.ok(self.consumer.get(f"/api/v1/orders/{self.order_id}/"))

    def stage_id(self, code):
        return next(s["id"] for s in self.detail()["stages"] if s["code"] == code)

    def pay_due(self):
        """The consumer pays every due installment through the sandbox checkout (signed webhook path)."""
        paid = []
        for inst in self.detail()["installments"]:
            if inst["state"] != "due":
                continue
            payment = self.ok(self.consumer.post(f"/api/v1/installments/{inst['id']}/pay/"))["payment"]
            self.ok(self.consumer.post(payment["checkout_url"], {"outcome": "paid"}), status=(200, 302, 303))
            paid.append(Decimal(inst["amount"]))
        return paid

    def visit(self, code, photos, checklist):
        """Book, assign, check in (replayed), redeem the voucher, upload evidence, check out, complete."""
        stage = self.stage_id(code)
        slots = self.ok(self.consumer.get(f"/api/v1/orders/{self.order_id}/slots/?stage={stage}"))
        appt = self.ok(
            self.consumer.post(
                f"/api/v1/orders/{self.order_id}/appointments/", {"stage": stage, "window_start": slots[0]["start"]}
            )
        )
        self.ok(self.manager.post(f"/api/v1/appointments/{appt['id']}/assign/", {"technician": self.technician.pk}))
        day = timezone.localdate(timezone.now())
        jobs = self.ok(self.tech.get(f"/api/v1/technician/jobs/?date={slots[0]['start'][:10]}"))
        job_ids = [j["id"] for j in (jobs["results"] if isinstance(jobs, dict) else jobs)]
        assert appt["id"] in job_ids, (day, jobs)
        job = f"/api/v1/technician/jobs/{appt['id']}"
        starting_soon(Appointment.objects.get(pk=appt["id"]))  # the visit's day comes
        check_in = {
            "client_event_id": str(uuid.uuid4()),
            "recorded_at": timezone.now().isoformat(),
            "latitude": "31.230100",
            "longitude": "121.470100",
            "accuracy_m": 8,
        }
        first = self.ok(self.tech.post(f"{job}/check-in/", check_in, format="json"))
        for _ in range(3):  # the phone retries on a bad network
            assert self.ok(self.tech.post(f"{job}/check-in/", check_in, format="json")) == first
        voucher = next(v for v in self.detail()["vouchers"] if v["stage_code"] == code and v["state"] == "issued")
        self.ok(self.tech.post("/api/v1/vouchers/redeem/", {"code": voucher["code"], "job": appt["id"]}))
        for i in range(photos):
            self.ok(
                self.tech.post(
                    f"{job}/evidence/",
                    {"file": photo(f"p{i}.png"), "kind": "photo", "client_event_id": str(uuid.uuid4())},
                    format="multipart",
                )
            )
        self.ok(
            self.tech.post(
                f"{job}/check-out/",
                {**check_in, "client_event_id": str(uuid.uuid4()), "notes": "Done", "checklist": checklist},
                format="json",
            )
        )
        self.ok(self.tech.post(f"{job}/complete/", {"client_event_id": str(uuid.uuid4())}, format="json"))
        return appt["id"]


@pytest.mark.django_db
def test_reference_flow_end_to_end(client_for, merchant_admin, store_manager, technician, consumer, store):
    run_reference_flow(Flow(client_for, merchant_admin, store_manager, technician, consumer, store))


def run_reference_flow(flow: Flow) -> None:
    """The whole flow; `flow.pay_due` decides how the consumer pays (tests/payments/test_channel_flows.py runs
    it through each real channel)."""
    store, consumer = flow.store, flow.consumer_user
    data = copy.deepcopy(CUSTOM_WARDROBE)
    for s in data["stages"]:
        if s.get("payment_share") is not None:
            s["payment_share"] = str(s["payment_share"])

    # the brand designs, publishes and distributes the workflow
    template = flow.ok(flow.admin.post("/api/v1/templates/", data, format="json"))
    flow.ok(flow.admin.post(f"/api/v1/templates/{template['id']}/publish/"))
    flow.ok(flow.admin.post(f"/api/v1/templates/{template['id']}/distribute/", {"stores": [store.pk]}, format="json"))

    # the store creates the order for the consumer
    order = flow.ok(
        flow.manager.post(
            "/api/v1/orders/",
            {
                "template": template["id"],
                "store": store.pk,
                "consumer": {"phone": consumer.phone},
                "total_amount": "12000.00",
                "currency": "CNY",
                "service_address": "100 Huaihai Road, Shanghai",
                "latitude": "31.230000",
                "longitude": "121.470000",
            },
            format="json",
        )
    )
    flow.order_id = order["id"]
    assert order["consumer"] == consumer.pk
    assert [Decimal(i["amount"]) for i in flow.detail()["installments"]] == [
        Decimal("1200.00"),
        Decimal("3600.00"),
        Decimal("6000.00"),
        Decimal("1200.00"),
    ]
    assert flow.detail()["state"] == "booking:waiting_payment"

    # 1. booking: the deposit, then the measuring voucher is issued
    assert flow.pay_due() == [Decimal("1200.00")]
    detail = flow.detail()
    assert detail["state"] == "measuring:ready"
    assert [v["stage_code"] for v in detail["vouchers"]] == ["measuring"]

    # 2. measuring on site
    flow.visit("measuring", photos=2, checklist=["Walls measured", "Floor level checked", "Power sockets marked"])
    assert flow.detail()["state"] == "design:ready"

    # 3. design: rejected once, reworked, approved; 30% becomes due with the installation's 50%
    design = flow.stage_id("design")
    flow.ok(
        flow.manager.post(
            f"/api/v1/stages/{design}/submit/", {"notes": "Draft 1", "file": photo("d1.png")}, format="multipart"
        )
    )
    # the consumer opens the draft they are asked to approve, from the order detail
    (draft,) = next(s for s in flow.detail()["stages"] if s["code"] == "design")["submission_files"]
    assert (draft["name"], draft["content_type"]) == ("d1.png", "image/png")
    opened = flow.consumer.get(draft["download_url"])
    assert opened.status_code == 200 and opened["Content-Disposition"].startswith("attachment")
    assert b"".join(opened.streaming_content).startswith(b"\x89PNG")  # read to the end, which closes it
    flow.ok(flow.consumer.post(f"/api/v1/stages/{design}/reject/", {"reason": "Wider drawers, please"}))
    flow.ok(
        flow.manager.post(
            f"/api/v1/stages/{design}/submit/", {"notes": "Draft 2", "file": photo("d2.png")}, format="multipart"
        )
    )
    flow.ok(flow.consumer.post(f"/api/v1/stages/{design}/approve/"))
    assert flow.detail()["state"] == "installation:waiting_payment"
    # the installation cannot be booked before it is paid
    install = flow.stage_id("installation")
    refused = flow.consumer.post(
        f"/api/v1/orders/{flow.order_id}/appointments/", {"stage": install, "window_start": timezone.now().isoformat()}
    )
    assert refused.status_code in (400, 409)
    assert sorted(flow.pay_due()) == [Decimal("3600.00"), Decimal("6000.00")]
    assert flow.detail()["state"] == "installation:ready"

    # 4. installation on site
    flow.visit(
        "installation", photos=3, checklist={"Cabinets level": True, "Doors aligned": True, "Site cleaned": True}
    )
    assert flow.detail()["state"] == "acceptance:ready"

    # 5. acceptance: the consumer accepts, pays the last 10%, the order completes
    acceptance = flow.stage_id("acceptance")
    flow.ok(flow.manager.post(f"/api/v1/stages/{acceptance}/submit/", {"notes": "Handover"}, format="multipart"))
    flow.ok(flow.consumer.post(f"/api/v1/stages/{acceptance}/approve/"))
    assert flow.detail()["state"] == "closing"
    assert flow.pay_due() == [Decimal("1200.00")]

    detail = flow.detail()
    assert detail["state"] == "completed" and detail["status"] == "completed"
    assert Decimal(detail["money"]["paid"]) == Decimal("12000.00")
    assert Decimal(detail["money"]["outstanding"]) == Decimal("0.00")
    assert {v["state"] for v in detail["vouchers"]} == {"redeemed"}
    assert detail["progress"] == {"done": 5, "total": 5, "percent": 100}
    assert OrderEvent.objects.filter(order_id=flow.order_id, kind="job.checked_in").count() == 2
    assert verify_chain(flow.order_id) is None
