"""The workflow diagram in the admin: drawn in Python (no Graphviz binary on the PATH), in the merchant's words,
coloured by where the live orders sit, each count a link to those orders (the viewer's orders only)."""

import re
import shutil
from html import unescape

import pytest
from django.urls import reverse

from tests.admin.conftest import web
from tests.factories.payments import pay_due_installments
from tests.factories.workflows import make_order, make_template

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]  # reads English wording


@pytest.fixture
def no_graphviz(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert shutil.which("dot") is None


def test_the_version_page_draws_the_live_orders_and_links_them(no_graphviz, merchant, store, store2, consumer,
                                                               merchant_admin, store_manager):
    template = make_template(merchant=merchant, stores=[store, store2])
    version = template.versions.get()
    waiting = [make_order(store=store, consumer=consumer, template=template) for _ in range(2)]
    measuring = make_order(store=store, consumer=consumer, template=template)
    pay_due_installments(measuring)
    make_order(store=store2, consumer=consumer, template=template)  # another store's order

    page = reverse("admin:workflows_templateversion_change", args=[version.pk])
    html = web(merchant_admin).get(page).content.decode()
    start = html.index('data-testid="live-flow"')
    flow = html[start:html.index("</svg>", start)]
    assert 'data-stage="booking" data-live="3"' in flow and 'data-stage="measuring" data-live="1"' in flow
    words = " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", flow))
    assert "Measuring on site" in words and "3 waiting for payment" in words
    assert "waiting_payment" not in words and "__" not in words  # no engine state names
    link = unescape(re.search(r'<a href="([^"]+)"><text[^>]*>3 live orders', flow).group(1))
    listed = web(merchant_admin).get(link).content.decode()
    assert all(o.number in listed for o in waiting) and measuring.number not in listed

    # a store manager counts only their store's orders
    html = web(store_manager).get(page).content.decode()
    assert 'data-stage="booking" data-live="2"' in html


def test_the_diagram_file_is_svg_without_graphviz(no_graphviz, merchant, store, merchant_admin):
    version = make_template(merchant=merchant, stores=[store]).versions.get()
    response = web(merchant_admin).get(reverse("admin:workflows_version_diagram", args=[version.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    assert response.content.startswith(b"<svg") and b"Installation on site" in response.content
