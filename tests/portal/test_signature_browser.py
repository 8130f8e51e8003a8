"""Signing off in a real browser at a phone's size (390x844), JavaScript on: confirm the phone with the SMS
code, draw a signature on the canvas with the mouse, approve; the signature is then in the order's evidence.
axe-core checks the signing state; the browser reports no CSP violation (the scripts are files of this site).
docs/portal-signature.png with PORTAL_DOCS_SCREENSHOTS=1."""

from __future__ import annotations

import pytest

from notifications.services import tracking_url
from tests.browser import BROWSER_SKIPS, CHROMIUM, CHROMIUM_ARGS, csp_violations, expect, sync_playwright
from tests.portal.conftest import last_code
from tests.portal.test_portal_browser import axe_check, enter_code, merchant, to_docs  # noqa: F401
from tests.portal.test_signature import signed_order

pytestmark = [*BROWSER_SKIPS, pytest.mark.django_db(transaction=True)]


def test_draw_the_signature_and_approve(live_server, store, consumer, store_manager, client_for, sms):
    order = signed_order(store=store, consumer=consumer, manager=store_manager)
    url = f"{live_server.url}{tracking_url(order)}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
            page = context.new_page()
            page.set_default_timeout(15_000)
            messages = []
            page.on("console", lambda msg: messages.append(f"{msg.type}: {msg.text}"))
            page.goto(url)
            page.locator('form[action$="code/"] button').first.click()
            enter_code(page, last_code(sms))
            canvas = page.get_by_test_id("signature-canvas")
            expect(canvas).to_be_visible()
            canvas.scroll_into_view_if_needed()
            box = canvas.bounding_box()
            page.mouse.move(box["x"] + 30, box["y"] + 100)
            page.mouse.down()
            for x, y in ((80, 40), (130, 120), (180, 50), (240, 110), (300, 60)):
                page.mouse.move(box["x"] + x, box["y"] + y, steps=5)
            page.mouse.up()
            axe_check(page, "signature")
            to_docs(page, "signature")
            page.get_by_test_id("approve").click()
            page.wait_for_url("**done=approved**")
            assert not csp_violations(messages), messages
        finally:
            browser.close()
    evidence = client_for(store_manager).get(f"/api/v1/orders/{order.pk}/evidence/")
    assert evidence.status_code == 200, evidence.content
    body = evidence.json()
    rows = body["results"] if isinstance(body, dict) and "results" in body else body
    assert [row["kind"] for row in rows] == ["signature"]
