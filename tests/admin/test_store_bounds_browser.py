"""A brand setting a bound and a store going past it, in a real browser at a tablet's size (Debian's Chromium driven
by Playwright): the merchant admin opens appointment lengths to its stores for 60 to 120 minutes on the template's
page; the store manager then asks for 150 minutes on the store's page of that workflow and is refused in the field,
with the bound in the message; 100 minutes is saved. Each page passes axe-core with no serious or critical
violation and no Content-Security-Policy violation. Screenshot: docs/admin-store-bounds.png (DOCS_SCREENSHOTS=1).

Skips (with the reason) when Playwright or axe is not installed, or /usr/bin/chromium is missing."""

from __future__ import annotations

import pytest

from tests.admin.test_workbench_browser import Axe, serious, shot, success, tablet_page  # noqa: F401 - a fixture
from tests.browser import BROWSER_SKIPS, csp_violations, expect
from tests.factories.workflows import make_template
from workflows.models import TemplateDistribution

pytestmark = [*BROWSER_SKIPS, pytest.mark.skipif(Axe is None, reason="axe-playwright-python is not installed")]


@pytest.fixture
def world(merchant, store, merchant_admin, store_manager):
    """Made before the browser starts (Django refuses database calls in Playwright's event loop thread)."""
    template = make_template(merchant=merchant, stores=[store])
    return {"template": template, "dist": TemplateDistribution.objects.get(template=template, store=store),
            "admin": merchant_admin, "manager": store_manager}


def log_in(page, url: str, user) -> None:
    page.context.clear_cookies()
    page.goto(f"{url}/admin/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "demo-pass-123")
    page.click("input[type=submit]")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("english")
def test_a_brand_sets_a_bound_and_a_store_goes_past_it(live_server, world, tablet_page):  # noqa: F811
    page = tablet_page
    log_in(page, live_server.url, world["admin"])
    page.goto(f"{live_server.url}/admin/workflows/workflowtemplate/{world['template'].pk}/change/")
    page.check("#id_store_bounds-0-appointment_open")
    page.fill("#id_store_bounds-0-appointment_min_minutes", "60")
    page.fill("#id_store_bounds-0-appointment_max_minutes", "120")
    assert serious(page) == []
    page.click("input[name=_continue]")
    success(page).to_be_visible()
    expect(page.locator("#id_store_bounds-0-appointment_open")).to_be_checked()

    log_in(page, live_server.url, world["manager"])
    page.goto(f"{live_server.url}/admin/workflows/templatedistribution/{world['dist'].pk}/change/")
    field = page.locator("#id_appointment_minutes__measuring")
    expect(page.locator(".field-appointment_minutes__measuring")).to_contain_text("Your brand allows 60 to 120.")
    field.fill("150")
    page.click("input[name=_continue]")
    error = page.locator(".field-appointment_minutes__measuring .errorlist")
    expect(error).to_contain_text("must be 60 to 120 minutes (your brand's bounds)")
    assert page.evaluate("document.documentElement.scrollWidth") <= 820  # fits the tablet
    assert serious(page) == []
    shot(page, "admin-store-bounds.png")

    page.locator("#id_appointment_minutes__measuring").fill("100")
    page.click("input[name=_continue]")
    success(page).to_be_visible()
    expect(page.locator("#id_appointment_minutes__measuring")).to_have_value("100")
    assert not csp_violations(page.console_messages), page.console_messages
