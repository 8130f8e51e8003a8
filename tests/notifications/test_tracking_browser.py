"""The tracking page in a real browser at a phone's size: Debian's Chromium driven by Playwright.

It opens a reference-flow order waiting for its booking deposit, checks the timeline and the amounts,
presses Pay, pays on the sandbox provider's checkout page, comes back and sees the booking done and
the measuring visit ready to book. A screenshot is kept as artifacts/tracking.png. Both pages run under the
Content-Security-Policy: the browser reports no violation (Chromium logs each one to the console).

Skips (with the reason) when Playwright is not installed or /usr/bin/chromium is missing; it never
downloads a browser (`playwright install` is not used).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from notifications.services import tracking_url
from tests.browser import BROWSER_SKIPS, browser_page, csp_violations, expect
from tests.factories.workflows import make_order

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

pytestmark = [*BROWSER_SKIPS, pytest.mark.usefixtures("english")]


@pytest.fixture
def merchant(db):
    from tests.factories import MerchantFactory

    return MerchantFactory(name="Lumen Test Furniture", slug="lumen-test", tier="enterprise")


@pytest.fixture
def order(merchant, store, consumer, store_manager, technician):
    """A reference-flow order (12,000.00 CNY) waiting for its 1,200.00 deposit. Made before the
    browser starts: Playwright's sync API runs an event loop in this thread, where Django refuses
    database calls."""
    order = make_order(store=store, consumer=consumer, actor=store_manager)
    assert order.state == "booking:waiting_payment"
    return order


@pytest.fixture
def phone_page():
    with browser_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True,
                      java_script_enabled=False) as page:
        yield page


def statuses(page) -> dict[str, str]:
    items = page.locator('[data-testid="timeline"] li')
    return {items.nth(i).get_attribute("data-stage"): items.nth(i).get_attribute("data-status")
            for i in range(items.count())}


@pytest.mark.django_db(transaction=True)
def test_pay_the_deposit_from_the_tracking_page_on_a_phone(live_server, order, phone_page):
    page = phone_page
    url = f"{live_server.url}{tracking_url(order)}"  # computed before any browser call: no query

    response = page.goto(url)
    assert "style-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator("h1")).to_have_text(f"Order {order.number}")
    assert statuses(page) == {"booking": "current", "measuring": "upcoming", "design": "upcoming",
                              "installation": "upcoming", "acceptance": "upcoming"}
    expect(page.get_by_test_id("headline")).to_have_text("Booking: waiting for your payment.")
    expect(page.get_by_test_id("due-total")).to_have_text("CN¥1,200.00")
    expect(page.get_by_test_id("paid-total")).to_have_text("CN¥0.00")
    # Phone-sized: nothing wider than the screen, a thumb-sized Pay button.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    pay = page.get_by_role("button", name=re.compile(r"Pay CN¥1,200\.00"))
    box = pay.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 44

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "tracking-before-payment.png"), full_page=True)

    pay.click()
    page.wait_for_url(re.compile(r"/sandbox/checkout/"))
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(244, 245, 247)"  # its stylesheet
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    page.wait_for_url(re.compile(r"/track/.+payment=paid"))

    assert statuses(page) == {"booking": "done", "measuring": "current", "design": "upcoming",
                              "installation": "upcoming", "acceptance": "upcoming"}
    expect(page.get_by_test_id("headline")).to_have_text("Measuring on site is ready: book a visit.")
    expect(page.get_by_test_id("next-action")).to_contain_text("Book a visit")
    expect(page.get_by_test_id("paid-total")).to_have_text("CN¥1,200.00")
    expect(page.get_by_test_id("due-total")).to_have_text("CN¥0.00")
    expect(page.locator('[data-testid="voucher"] svg')).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "tracking.png"), full_page=True)
    assert (ARTIFACTS / "tracking.png").stat().st_size > 10_000
    # The stylesheets are files, the progress bar and the QR code are SVG: nothing the CSP refuses.
    expect(page.locator(".bar rect")).to_have_attribute("width", "20")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(246, 246, 244)"  # tracking.css
    assert not csp_violations(page.console_messages), page.console_messages
