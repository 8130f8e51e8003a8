"""The load test's users (Locust): a fixed number of requests in a fixed mix, against the server bench/load/run.py
starts. Not run by hand: the runner builds the data and passes the plan (`--plan`, bench/load/data.py).

Each task iteration sends one request, of the kind next in a shuffled schedule that holds every kind exactly as
often as the mix says (MIX in data.py); when every request has been answered Locust stops. A request is named
"<who>: <what>" (consumer, technician, provider, staff), so the runner can sum the statistics per kind. Every
request declares the status it must get (and, where it matters, what the body must say): anything else is a
failure, and the runner fails on any.

Technicians work their visits step by step (check-in, voucher, two photos, check-out, complete): a visit is taken
by one user for one step at a time, then put back first in line for its next step, so a visit goes on to its end
while the other users work others, several at once, as on a real day. Provider notifications are the sandbox's
signed webhooks (payments/providers/sandbox.py builds them, as the provider would), every tenth a second delivery
of an earlier one, which must change nothing.
"""

from __future__ import annotations

import io
import json
import os
import random
import uuid
from collections import deque
from datetime import UTC, datetime

import gevent
from locust import HttpUser, constant, events, task
from locust.exception import StopUser

from bench.load.data import JOB_STEPS, REDELIVERY_EVERY


@events.init_command_line_parser.add_listener
def _arguments(parser):
    parser.add_argument("--plan", type=str, required=True, help="the plan bench/load/data.py wrote (JSON)")
    parser.add_argument("--seed", type=int, default=22, help="the schedule's shuffle")


class Run:
    """What all users share (one process, gevent: no locks needed)."""

    def __init__(self, plan: dict, seed: int):
        self.plan = plan
        rng = random.Random(seed)
        self.rng = rng
        schedule = [kind for kind, n in plan["counts"].items() for _ in range(n)]
        rng.shuffle(schedule)
        self.schedule = deque(schedule)
        self.answered = 0
        self.ready_jobs = deque({**job, "step": 0} for job in plan["jobs"])
        self.pools = {name: deque(plan[name]) for name in ("payments", "assign", "book", "submit", "cancel")}
        self.notifications = 0
        self.delivered: list[tuple[str, dict]] = []  # (event id, data) of notifications answered, to send again
        self.photo = _photo()
        self.draft = _draft_pdf()


RUN: Run | None = None
ENVIRONMENT = None


@events.init.add_listener
def _load_plan(environment, **kwargs):
    global RUN, ENVIRONMENT
    ENVIRONMENT = environment
    # Django's settings, for the sandbox provider's webhook builder (no database is used in this process).
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.load.settings")
    import django

    django.setup()
    with open(environment.parsed_options.plan) as fh:
        RUN = Run(json.load(fh), environment.parsed_options.seed)


@events.request.add_listener
def _count(**kwargs):
    """Stop once every request of the plan has its answer (a request count, not a time)."""
    RUN.answered += 1
    if RUN.answered == RUN.plan["requests"]:
        gevent.spawn(ENVIRONMENT.runner.quit)


def _photo():
    """A phone-camera-sized picture (noise does not compress: about 150 kB as JPEG)."""
    from PIL import Image

    return Image.effect_noise((400, 300), 64).convert("RGB")


def _photo_bytes(picture) -> bytes:
    """The picture as a JPEG different from every other upload of the run (a random 8x8 corner, across the load
    generator's processes too): the same photo twice on an order is refused (409 duplicate_evidence), as it is
    from a real phone."""
    from PIL import Image

    picture.paste(Image.frombytes("RGB", (8, 8), os.urandom(8 * 8 * 3)), (0, 0))
    buf = io.BytesIO()
    picture.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def _draft_pdf() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (595, 842), (235, 228, 215)).save(buf, format="PDF")
    return buf.getvalue()


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Mixed(HttpUser):
    """Anyone: each iteration is the next request of the schedule."""

    wait_time = constant(0)

    @task
    def next_request(self):
        if not RUN.schedule:
            raise StopUser()
        kind = RUN.schedule.popleft()
        {
            "consumer: order detail": self.order_detail, "consumer: order list": self.order_list,
            "consumer: tracking page": self.tracking_page, "technician: job step": self.job_step,
            "provider: payment notification": self.notification, "staff: assign": self.assign,
            "staff: book": self.book, "staff: submit": self.submit, "staff: cancel": self.cancel,
        }[kind]()

    # --- helpers -----------------------------------------------------------------------------------------
    def send(self, method: str, path: str, *, name: str, token: str | None = None, expect=(200,), check=None,
             **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Token {token}"
        with self.client.request(method, path, name=name, headers=headers, catch_response=True, **kwargs) as r:
            if r.status_code not in expect:
                r.failure(f"{r.status_code}: {r.text[:300]}")
            elif check is not None and (problem := check(r)):
                r.failure(problem)
            else:
                r.success()

    def unsafe(self) -> dict:
        """A client that retries safely sends an Idempotency-Key with each write (the middleware stores the
        answer)."""
        return {"Idempotency-Key": uuid.uuid4().hex}

    # --- consumers ----------------------------------------------------------------------------------------
    def order_detail(self):
        reader = RUN.rng.choice(RUN.plan["readers"])
        self.send("GET", f"/api/v1/orders/{reader['order']}/", name="consumer: GET /api/v1/orders/{id}/",
                  token=reader["token"], headers={"Accept": "application/json"})

    def order_list(self):
        reader = RUN.rng.choice(RUN.plan["readers"])
        self.send("GET", "/api/v1/orders/", name="consumer: GET /api/v1/orders/", token=reader["token"],
                  headers={"Accept": "application/json"})

    def tracking_page(self):
        reader = RUN.rng.choice(RUN.plan["readers"])
        self.send("GET", reader["tracking"], name="consumer: GET /track/{token}/",
                  check=lambda r: None if "<html" in r.text.lower() else "not a page")

    # --- technicians -------------------------------------------------------------------------------------
    def job_step(self):
        if not RUN.ready_jobs:
            raise RuntimeError("no visit free to work: the plan has too few for this many users")
        job = RUN.ready_jobs.popleft()
        step = JOB_STEPS[job["step"]]
        try:
            self.work(job, step)
        finally:
            job["step"] += 1
            if job["step"] < len(JOB_STEPS):
                RUN.ready_jobs.appendleft(job)  # the technician goes on with this visit: next step, next time

    def work(self, job: dict, step: str):
        url = f"/api/v1/technician/jobs/{job['job']}/"
        where = {"latitude": job["latitude"], "longitude": job["longitude"]}
        common = {"token": job["token"], "headers": {**self.unsafe(), "Accept": "application/json"}}
        if step == "check-in":
            self.send("POST", f"{url}check-in/", name="technician: POST check-in", expect=(201,), **common,
                      json={"client_event_id": str(uuid.uuid4()), "recorded_at": _now(), "accuracy_m": 8, **where})
        elif step == "redeem voucher":
            self.send("POST", "/api/v1/vouchers/redeem/", name="technician: POST voucher redeem", **common,
                      json={"code": job["voucher"], "job": job["job"]})
        elif step == "evidence":
            self.send("POST", f"{url}evidence/", name="technician: POST evidence (photo)", expect=(201,),
                      **common, data={"kind": "photo", "client_event_id": str(uuid.uuid4())},
                      files={"file": ("site.jpg", _photo_bytes(RUN.photo), "image/jpeg")})
        elif step == "check-out":
            self.send("POST", f"{url}check-out/", name="technician: POST check-out", expect=(200, 201), **common,
                      json={"client_event_id": str(uuid.uuid4()), "recorded_at": _now(), **where,
                            "notes": "Measured.", "checklist": dict.fromkeys(job["checklist"], True)})
        else:
            self.send("POST", f"{url}complete/", name="technician: POST complete", expect=(200, 201), **common,
                      json={})

    # --- the payment provider ----------------------------------------------------------------------------
    def notification(self):
        from payments.providers.base import PAYMENT_SUCCEEDED
        from payments.providers.sandbox import build_webhook

        RUN.notifications += 1
        again = RUN.notifications % REDELIVERY_EVERY == 0 and RUN.delivered
        if again:  # only one whose first delivery was answered: else the two could be processed in either order
            event_id, data = RUN.rng.choice(RUN.delivered)
        else:
            data, event_id = RUN.pools["payments"].popleft(), f"evt_load_{uuid.uuid4().hex}"
        expected = "duplicate" if again else "processed"
        headers, body = build_webhook(PAYMENT_SUCCEEDED, data, event_id=event_id, secret=RUN.plan["webhook_secret"])
        self.send("POST", "/api/v1/payments/webhooks/sandbox/", name="provider: POST payment notification",
                  data=body, headers={**headers, "Content-Type": "application/json"},
                  check=lambda r: None if r.json().get("status") == expected else f"not {expected}: {r.text[:200]}")
        if not again:
            RUN.delivered.append((event_id, data))

    # --- store staff -------------------------------------------------------------------------------------
    def staff(self, name: str, method: str, path: str, **kwargs):
        self.send(method, path, name=f"staff: {name}", token=RUN.plan["manager_token"],
                  headers={**self.unsafe(), "Accept": "application/json"}, **kwargs)

    def assign(self):
        target = RUN.pools["assign"].popleft()
        self.staff("POST appointment assign", "POST", f"/api/v1/appointments/{target['appointment']}/assign/",
                   json={"technician": target["technician"]})

    def book(self):
        target = RUN.pools["book"].popleft()
        self.staff("POST order appointments (book)", "POST", f"/api/v1/orders/{target['order']}/appointments/",
                   expect=(201,), json={"stage": target["stage"], "window_start": target["window_start"]})

    def submit(self):
        target = RUN.pools["submit"].popleft()
        self.staff("POST stage submit (design draft)", "POST", f"/api/v1/stages/{target['stage']}/submit/",
                   data={"notes": "Design draft v1"}, files={"file": ("draft.pdf", RUN.draft, "application/pdf")})

    def cancel(self):
        target = RUN.pools["cancel"].popleft()
        self.staff("POST order cancel", "POST", f"/api/v1/orders/{target['order']}/cancel/",
                   json={"reason": "The consumer changed their mind."})
