"""The tracking page's channel buttons in a real browser at a phone's size (Debian's Chromium, Playwright): the
consumer of a brand with an Alipay account presses "Alipay on the phone", lands on Alipay's cashier (the loopback
Alipay), pays, Alipay's notification arrives, and back on the page the booking is done. Screenshot:
artifacts/tracking-channels.png (the copy in docs/ is taken from it)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from urllib.request import Request, urlopen

import pytest

from notifications.services import tracking_url
from payments.models import Payment
from tests.browser import BROWSER_SKIPS, CHROMIUM, CHROMIUM_ARGS, csp_violations, expect, sync_playwright

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

pytestmark = BROWSER_SKIPS


@pytest.mark.django_db(transaction=True)
def test_pay_the_deposit_through_alipay_from_the_tracking_page(live_server, alipay, order, settings):
    # The Pay form may redirect to the gateway's origin (config: PAYMENT_FORM_ORIGINS), here the loopback one.
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["form-action"] = ["'self'", alipay.base]
    settings.CONTENT_SECURITY_POLICY = policy
    url = f"{live_server.url}{tracking_url(order)}"
    notify_url = f"{live_server.url}/api/v1/payments/notify/alipay/{alipay.account.pk}/"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                          is_mobile=True, has_touch=True, java_script_enabled=False)
            page = context.new_page()
            page.set_default_timeout(15_000)
            messages: list[str] = []
            page.on("console", lambda msg: messages.append(f"{msg.type}: {msg.text}"))

            page.goto(url)
            buttons = page.locator('form.pay button[name="channel"]')
            expect(buttons).to_have_count(3)  # the sandbox (on by default) and the brand's two Alipay channels
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "tracking-channels.png"), full_page=True)

            page.locator('button[value="alipay_wap"]').click()
            page.wait_for_url(re.compile(re.escape(alipay.gateway)))
            expect(page.locator("body")).to_have_text("cashier")
            (reference,) = alipay.trades
            alipay.pay(reference)
            answer = urlopen(Request(notify_url, data=alipay.notification(reference), headers={  # noqa: S310
                "Content-Type": "application/x-www-form-urlencoded"}), timeout=10).read()
            assert answer == b"success"

            page.goto(f"{url}?payment=paid")  # Alipay sends the browser back to the return_url
            expect(page.get_by_test_id("paid-total")).to_have_text("CN¥1,200.00")
            assert not csp_violations(messages), messages
        finally:
            browser.close()
    assert Payment.objects.get().channel == "alipay_wap"
