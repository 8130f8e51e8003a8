"""Evidence the technician uploads for the job's stage (photos, measurements), stored by its bytes."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core import files
from core.errors import Conflict, DomainError, InvalidTransition
from fieldwork import events, selectors
from fieldwork.models import Evidence
from fieldwork.services.actions import RECORDED, ActionResult, _event_times, _replay, _run_action, _stored, is_late_sync
from tenancy.models import User
from workflows import engine
from workflows.models import Appointment, ServiceOrder

A = Appointment.State



# Every content type evidence_content_type stores (the download answers with it).
EVIDENCE_CONTENT_TYPES = (*files.IMAGE_FORMATS.values(), files.PDF, files.OPAQUE)


def evidence_content_type(*, data: bytes, kind: str) -> str:
    """The stored content type: detected from the bytes. A photo must be a real image; other
    kinds may be an image, a PDF, or anything else (stored as opaque bytes, never as HTML/SVG)."""
    if kind == Evidence.Kind.PHOTO:
        detected = files.detect_image(data)
        if detected is None:
            raise DomainError(_("The file is not a JPEG, PNG or WebP image."), code="invalid",
                              errors={"file": ["Upload a JPEG, PNG or WebP photo."]})
        return detected
    return files.detect_document(data) or files.OPAQUE


def job_evidence_add(*, technician: User, job_id: int, client_event_id, kind: str, file,
                     recorded_at: datetime | None = None) -> ActionResult:
    """Store one piece of evidence for the job's stage (through Django's default storage)."""
    if kind not in Evidence.Kind.values:
        raise DomainError(_("Unknown evidence kind."), code="invalid",
                          errors={"kind": [f"One of: {', '.join(Evidence.Kind.values)}."]})
    recorded_at = recorded_at or timezone.now()
    stored = _stored(technician, uuid.UUID(str(client_event_id)))
    if stored is not None:  # a replay: do not even read the upload again
        return _replay(stored, kind="evidence", job_id=job_id)
    data = files.upload_read(file, max_bytes=settings.EVIDENCE_MAX_BYTES)
    content_type = evidence_content_type(data=data, kind=kind)
    sha256 = hashlib.sha256(data).hexdigest()
    saved_names: list[str] = []
    refused: list[tuple[int, int, int]] = []  # (order, job, the photo already there) of a refused duplicate

    def work(order: ServiceOrder, appointment: Appointment, received_at: datetime) -> ActionResult:
        if appointment.state not in (A.CHECKED_IN, A.CHECKED_OUT):
            raise InvalidTransition(_("Check in before adding evidence."), allowed=[])
        # The same photo twice on one order proves nothing new (sent again, or reused): refused, under the order's
        # lock, so two uploads of it at once store one. Other kinds (a measurement file) may repeat.
        existing = None if kind != Evidence.Kind.PHOTO else (
            Evidence.objects.filter(order=order, sha256=sha256, kind=kind).values_list("pk", flat=True).first())
        if existing is not None:
            refused.append((order.pk, appointment.pk, existing))
            raise Conflict(_("This file is already on the order; take a new photo."), code="duplicate_evidence",
                           evidence=existing)
        late_sync = is_late_sync(recorded_at, received_at)
        evidence = Evidence(
            order=order, appointment=appointment, stage=appointment.stage, technician=technician, kind=kind,
            sha256=sha256, size=len(data), content_type=content_type, client_event_id=client_event_id,
            recorded_at=recorded_at, received_at=received_at, late_sync=late_sync,
        )
        evidence.file.save("upload", ContentFile(data), save=False)
        saved_names.append(evidence.file.name)
        evidence.save()
        events.job_event(events.JOB_EVIDENCE_ADDED, order=order, appointment=appointment, actor=technician,
                         evidence=evidence.pk, kind=kind, sha256=sha256, size=len(data), content_type=content_type,
                         **_event_times(recorded_at, received_at, late_sync))
        return ActionResult(RECORDED, {
            "id": evidence.pk, "job": appointment.pk, "client_event_id": str(client_event_id), "kind": kind,
            "sha256": sha256, "size": len(data), "content_type": content_type, "recorded_at": recorded_at,
            "received_at": received_at, "late_sync": late_sync,
            "photo_count": selectors.stage_photo_count(stage=appointment.stage),
        })

    try:
        return _run_action(technician=technician, job_id=job_id, client_event_id=client_event_id,
                           kind="evidence", recorded_at=recorded_at,
                           request={"kind": kind, "sha256": sha256, "recorded_at": recorded_at}, work=work)
    except BaseException:
        for name in saved_names:  # the row was rolled back: do not keep its file
            default_storage.delete(name)
        if refused:
            _keep_refusal(technician, *refused[0], kind=kind, sha256=sha256)
        raise


def _keep_refusal(technician: User, order_id: int, job_id: int, duplicate_of: int, *, kind: str, sha256: str) -> None:
    """A refused duplicate stays on the order's record (its page, the metrics' anomalies), in a transaction of its
    own: the upload's was rolled back."""
    with transaction.atomic():
        order = engine.lock_order(order_id)
        appointment = Appointment.objects.select_related("stage").get(pk=job_id)
        events.job_event(events.JOB_EVIDENCE_REFUSED, order=order, appointment=appointment, actor=technician,
                         duplicate_of=duplicate_of, kind=kind, sha256=sha256)

