"""The Content-Security-Policy in a real browser (Debian's Chromium driven by Playwright): the Swagger UI, the
admin (including the workflow diagram and the insights dashboard) render with JavaScript on and the browser
reports no CSP violation. The tracking page and the sandbox checkout are driven by
tests/notifications/test_tracking_browser.py, which asserts the same.

Skips (with the reason) when Playwright is not installed or /usr/bin/chromium is missing.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.browser import BROWSER_SKIPS, CHROMIUM, CHROMIUM_ARGS, csp_violations, expect, sync_playwright
from tests.factories.workflows import make_order, make_template

pytestmark = BROWSER_SKIPS


@pytest.fixture
def browser_page():
    """(page, console messages): a desktop page with JavaScript on; every console message is collected
    (Chromium logs each CSP violation there: "Refused to ... because it violates ... Content Security Policy")."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.set_default_timeout(15_000)
            messages: list[str] = []
            page.on("console", lambda msg: messages.append(f"{msg.type}: {msg.text}"))
            page.on("pageerror", lambda exc: messages.append(f"pageerror: {exc}"))
            yield page, messages
            context.close()
        finally:
            browser.close()


@pytest.mark.django_db(transaction=True)
def test_swagger_ui_runs_under_the_csp(live_server, browser_page):
    page, messages = browser_page
    response = page.goto(f"{live_server.url}/api/docs/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    # The init script ran (from ?script, not inline) and rendered the operations of the fetched schema.
    # (Generating the schema takes a few seconds on a busy machine.)
    expect(page.locator(".opblock").first).to_be_visible(timeout=60_000)
    assert page.locator(".opblock").count() > 40
    expect(page.locator("#operations-v1-v1_auth_token_create")).to_be_visible()
    assert not csp_violations(messages), messages


@pytest.fixture
def admin_pages(merchant, store, consumer, store_manager, operator):
    """Admin URLs to open as the platform operator, and its session cookie (made before the browser starts:
    Playwright's sync API runs an event loop in this thread, where Django refuses database calls)."""
    template = make_template(merchant=merchant, stores=[store])
    draft = make_template(merchant=merchant, publish=False, name="Draft wardrobe").versions.get()
    order = make_order(store=store, consumer=consumer, template=template, actor=store_manager)
    web = Client()
    web.force_login(operator)
    urls = {
        "index": reverse("admin:index"),
        "orders": reverse("admin:workflows_serviceorder_changelist"),
        "order": reverse("admin:workflows_serviceorder_change", args=[order.pk]),
        "template version with its diagram": reverse("admin:workflows_templateversion_change", args=[draft.pk]),
        "templates": reverse("admin:workflows_workflowtemplate_changelist"),
        "insights dashboard": reverse("admin:insights_dashboard_changelist"),
    }
    return urls, web.cookies["sessionid"].value


@pytest.mark.django_db(transaction=True)
def test_admin_pages_run_under_the_csp(live_server, admin_pages, browser_page):
    page, messages = browser_page
    urls, session = admin_pages
    page.context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
    problems = {}
    for name, path in urls.items():
        messages.clear()
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, f"{name}: {response.status}"
        assert "default-src 'self'" in response.headers["content-security-policy"]
        expect(page.locator("#content")).to_be_visible()
        page.wait_for_load_state("load")
        if csp_violations(messages):
            problems[name] = csp_violations(messages)
    assert not problems, problems
