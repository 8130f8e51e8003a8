"""Content-Security-Policy (django-csp) on every response: the directives, and no inline code in our pages."""

import re
from pathlib import Path

import pytest

from notifications.services import tracking_url
from payments import services as payments
from payments.models import Installment
from tests.factories.workflows import make_order

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "img-src": {"'self'", "data:"},
    "object-src": {"'none'"},
    "base-uri": {"'none'"},
    "frame-ancestors": {"'none'"},
    # The tracking page's Pay form redirects to Alipay's gateway or WeChat Pay's H5 cashier (PAYMENT_FORM_ORIGINS).
    "form-action": {"'self'", "https://openapi.alipay.com", "https://wx.tenpay.com"},
}


def policy(response) -> dict[str, set[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in filter(None, (p.strip() for p in header.split(";"))):
        name, *values = part.split()
        directives[name] = set(values)
    return directives


def assert_strict(response):
    directives = policy(response)
    for name, values in EXPECTED.items():
        assert directives.get(name) == values, (name, directives.get(name))
    # Styles: this origin's stylesheets only (no inline style attribute is allowed, not even by hash).
    assert directives["style-src"] == {"'self'"}
    header = response["Content-Security-Policy"]
    assert "unsafe-inline" not in header and "unsafe-eval" not in header


def test_api_answers_carry_the_policy(client_for, store_manager, anon_client):
    assert_strict(client_for(store_manager).get("/api/v1/stores/"))
    assert_strict(anon_client.get("/api/v1/stores/"))  # 401
    assert_strict(anon_client.get("/api/v1/no-such-thing/"))  # 404


@pytest.mark.django_db
def test_admin_pages_carry_the_policy(client, operator):
    assert_strict(client.get("/admin/login/"))
    client.force_login(operator)
    assert_strict(client.get("/admin/"))
    assert_strict(client.get("/admin/insights/dashboard/"))


def test_tracking_and_checkout_pages_carry_the_policy(client, store, consumer, store_manager):
    order = make_order(store=store, consumer=consumer, actor=store_manager)
    page = client.get(tracking_url(order))
    assert page.status_code == 200
    assert_strict(page)
    assert_strict(client.get("/track/not-a-valid-link/"))
    installment = Installment.objects.get(order=order, state=Installment.State.DUE)
    payment = payments.installment_pay(installment=installment, actor=consumer).payment
    response = client.get(payment.checkout_url)
    assert response.status_code == 200
    assert_strict(response)


@pytest.mark.django_db
def test_the_api_docs_load_their_scripts_from_this_origin(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert_strict(page)
    html = page.content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts
    for attributes, body in scripts:
        src = re.search(r'src="([^"]+)"', attributes)
        assert src and src.group(1).startswith("/"), attributes  # a file of this origin
        assert not body.strip()  # nothing inline
    assert "<style" not in html and "style=" not in html
    init = client.get("/api/docs/?script")
    assert init.status_code == 200
    assert init["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle(" in init.content


# E-mail bodies are rendered into messages, never served under the CSP, and mail clients ignore stylesheets: their
# styles must be inline.
EMAIL_TEMPLATES = {"notifications/templates/notifications/email.html"}


def project_templates() -> list[Path]:
    return sorted(p for p in ROOT.glob("*/templates/**/*.html")
                  if ".venv" not in p.parts and str(p.relative_to(ROOT)) not in EMAIL_TEMPLATES)


def test_no_project_template_has_inline_scripts_or_styles():
    """The CSP refuses inline <script>, <style> and style="" attributes: keep them in static files."""
    templates = project_templates()
    assert len(templates) >= 8
    found = []
    for path in templates:
        text = path.read_text()
        for match in re.finditer(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=", text):
            found.append(f"{path.relative_to(ROOT)}: {match.group(0).strip()}")
    assert not found, found
