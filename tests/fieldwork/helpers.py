"""Request builders for the technician API tests."""

import itertools
import uuid
from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from tests.factories.fieldwork import image_bytes


def job_url(job, action: str = "") -> str:
    job_id = getattr(job, "pk", job)
    return f"/api/v1/technician/jobs/{job_id}/" + (f"{action}/" if action else "")


def at_site(order, *, north_m: float = 0.0) -> dict:
    """Coordinates `north_m` metres north of the order's service address (1e-3 deg = 111.195 m)."""
    lat = float(order.latitude) + north_m / 111_194.93
    return {"latitude": round(lat, 7), "longitude": float(order.longitude)}


def check_in_body(order, *, recorded_at=None, north_m: float = 0.0, **extra) -> dict:
    return {"client_event_id": str(uuid.uuid4()),
            "recorded_at": (recorded_at or timezone.now()).isoformat(), "accuracy_m": 8.5,
            **at_site(order, north_m=north_m), **extra}


def check_out_body(order, *, recorded_at=None, checklist=None, **extra) -> dict:
    return {"client_event_id": str(uuid.uuid4()),
            "recorded_at": (recorded_at or timezone.now() + timedelta(seconds=1)).isoformat(),
            **at_site(order), "notes": "All measured.", "checklist": checklist, **extra}


def complete_body(*, recorded_at=None) -> dict:
    """A completion as a sync batch sends it: with its id and device time (both required there)."""
    return {"client_event_id": str(uuid.uuid4()),
            "recorded_at": (recorded_at or timezone.now() + timedelta(seconds=2)).isoformat()}


_SHADES = itertools.count(1)


def distinct_image(fmt: str = "PNG") -> bytes:
    """A new picture each call: the same bytes twice on an order are refused (409 duplicate_evidence)."""
    shade = next(_SHADES)
    return image_bytes(fmt, color=(shade % 256, (shade // 256) % 256, 90))


def photo_upload(tech_client, job, *, fmt="PNG", name="p.png", kind="photo", data=None, cid=None):
    data = distinct_image(fmt) if data is None else data
    upload = SimpleUploadedFile(name, data, content_type="image/png")
    return tech_client.post(job_url(job, "evidence"),
                            {"file": upload, "kind": kind, "client_event_id": cid or str(uuid.uuid4())},
                            format="multipart")

