"""The page shows everything that is the consumer's, read-only from the link alone, in a fixed number of queries:
each stage's visits (window, technician), the store's submitted files (PDF link, images shown), the technicians'
photos (thumbnails, full size), rework rounds with their reasons, the history in words."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fieldwork.models import Evidence
from tests.factories import ConsumerFactory
from tests.factories.fieldwork import image_bytes, make_job
from tests.factories.workflows import stage_of
from tests.portal.conftest import make_design_order, url, verify
from workflows.models import StageSubmissionFile

pytestmark = pytest.mark.django_db


def add_photo(order, appointment, technician, color=(90, 160, 60)) -> Evidence:
    data = image_bytes("PNG", size=(800, 600), color=color)
    now = timezone.now()
    return Evidence.objects.create(
        order=order, appointment=appointment, stage=appointment.stage, technician=technician, kind="photo",
        file=ContentFile(data, name="p.png"), sha256=hashlib.sha256(data).hexdigest(), size=len(data),
        content_type="image/png", client_event_id=uuid.uuid4(), recorded_at=now, received_at=now,
    )


def body(response) -> str:
    return response.content.decode()


def test_the_link_alone_shows_the_drafts_visits_photos_and_history_but_no_action(client, design_order,
                                                                                 technician):
    visit = make_job(order=design_order, code="measure", technician=technician,
                     window_start=timezone.now() + timedelta(days=2))
    photo = add_photo(design_order, visit, technician)
    html = body(client.get(url(design_order)))
    pdf, png = StageSubmissionFile.objects.filter(stage__order=design_order).order_by("pk")
    assert f'href="{url(design_order, f"files/{pdf.pk}/")}"' in html
    assert f'<img src="{url(design_order, f"files/{png.pk}/")}"' in html
    assert f'src="{url(design_order, f"photos/{photo.pk}/")}?size=thumb"' in html
    assert f'href="{url(design_order, f"photos/{photo.pk}/")}"' in html
    assert technician.first_name in html and 'data-testid="visit" data-state="booked"' in html
    assert 'data-kind="stage.complete"' in html and 'data-kind="order.created"' in html
    assert "Draft 1: oak, sliding doors" in html
    # Acting needs the phone: no approve, reject or book form from the link alone; paying needs nothing more.
    assert 'data-testid="approve"' not in html and 'data-testid="reject"' not in html
    assert 'data-testid="send-code"' in html


def test_the_files_and_photos_open_from_the_link_and_only_the_orders_own(client, design_order, technician, store,
                                                                        store_manager):
    pdf, png = StageSubmissionFile.objects.filter(stage__order=design_order).order_by("pk")
    response = client.get(url(design_order, f"files/{pdf.pk}/"))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline") and response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    visit = make_job(order=design_order, code="measure", technician=technician,
                     window_start=timezone.now() + timedelta(days=2))
    photo = add_photo(design_order, visit, technician)
    thumb = client.get(url(design_order, f"photos/{photo.pk}/?size=thumb"))
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"
    from io import BytesIO

    from PIL import Image

    assert max(Image.open(BytesIO(thumb.content)).size) == 320
    full = client.get(url(design_order, f"photos/{photo.pk}/"))
    assert full["Content-Type"] == "image/png"
    assert Image.open(BytesIO(b"".join(full.streaming_content))).size == (800, 600)
    # Another order's link opens none of them.
    other = make_design_order(store=store, consumer=ConsumerFactory(), manager=store_manager)
    assert client.get(url(other, f"files/{pdf.pk}/")).status_code == 404
    assert client.get(url(other, f"photos/{photo.pk}/")).status_code == 404
    assert client.get(f"/track/forged/files/{pdf.pk}/").status_code == 404


def test_rework_rounds_show_with_their_reasons(client, design_order, consumer, store_manager, sms):
    verify(client, design_order, sms)
    assert client.post(url(design_order, f"stages/{stage_of(design_order, 'design').pk}/reject/"),
                       {"reason": "Make the doors white"}).status_code == 302
    html = body(client.get(url(design_order)))
    (rework,) = re.findall(r'<ul class="rework" data-testid="rework">(.*?)</ul>', html, re.S)
    assert "Make the doors white" in rework
    assert 'data-kind="stage.reject"' in html


def _page_queries(client, order) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url(order)).status_code == 200
    return len(ctx.captured_queries)


def test_the_page_costs_the_same_queries_however_much_it_shows(client, store, store_manager, technician, sms,
                                                               django_assert_max_num_queries):
    small = make_design_order(store=store, consumer=ConsumerFactory(), manager=store_manager)
    big = make_design_order(store=store, consumer=ConsumerFactory(), manager=store_manager)
    for i in range(6):
        visit = make_job(order=big, code="measure", technician=technician,
                         window_start=timezone.now() + timedelta(days=2, hours=3 * i))
        add_photo(big, visit, technician)
        add_photo(big, visit, technician, color=(i * 20, 0, 0))
    for order in (small, big):
        verify(client, order, sms)
    assert _page_queries(client, small) == _page_queries(client, big)
    with django_assert_max_num_queries(11):  # the 9 reads of the link's page, the session, its consumer
        client.get(url(big))
