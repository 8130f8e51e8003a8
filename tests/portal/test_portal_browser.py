"""The consumer's page in a real browser at a phone's size (390x844), without JavaScript: read the design draft and
approve it after entering the SMS code (read from the SMS backend, as the phone would get it); reject with a
reason; a wrong code five times locks it; another order's session cannot act. axe-core checks each state (no
serious or critical violation), the browser reports no CSP violation, and screenshots of the main states go to
artifacts/ (and docs/portal-*.png with PORTAL_DOCS_SCREENSHOTS=1).

Orders are made before the browser starts: Playwright's sync API runs an event loop in this thread, where Django
refuses database calls; what the test checks in the database afterwards runs after the browser is closed, or
through the page."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from notifications.services import tracking_url
from tests.browser import BROWSER_SKIPS, CHROMIUM, CHROMIUM_ARGS, csp_violations, expect, sync_playwright
from tests.factories import ConsumerFactory
from tests.portal.conftest import last_code, make_design_order

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
DOCS = ROOT / "docs"

pytestmark = [*BROWSER_SKIPS, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def merchant(db):
    from tests.factories import MerchantFactory

    return MerchantFactory(name="Lumen Test Furniture", slug="lumen-test", tier="enterprise")


@pytest.fixture
def orders(store, consumer, store_manager, technician):
    mine = make_design_order(store=store, consumer=consumer, manager=store_manager)
    other = make_design_order(store=store, consumer=ConsumerFactory(), manager=store_manager)
    return mine, other


@pytest.fixture
def browser():
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def phone(browser):
    """A phone-sized page with JavaScript off: every step works without it."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1, is_mobile=True,
                                  has_touch=True, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.console_messages = []
    page.on("console", lambda msg: page.console_messages.append(f"{msg.type}: {msg.text}"))
    return page


def axe_check(page, name: str) -> None:
    """axe-core on what `page` shows now, with a screenshot of the state among the test artifacts. axe is a script:
    it runs in a JavaScript-enabled page of its own, served the same HTML at the same address (a page that answered
    a POST cannot be loaded again by GET), with the same stylesheet."""
    from axe_playwright_python.sync_playwright import Axe

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"portal-{name}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, name  # nothing wider than the phone
    html = page.content()
    context = page.context.browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        checker = context.new_page()
        checker.route(page.url, lambda route: route.fulfill(status=200, content_type="text/html; charset=utf-8",
                                                            body=html))
        checker.goto(page.url)
        results = Axe().run(checker)
    finally:
        context.close()
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
           for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, (name, bad)


def to_docs(page, name: str) -> None:
    """The main states' screenshots for docs/portal.md, refreshed only when asked (PORTAL_DOCS_SCREENSHOTS=1), so a
    test run does not rewrite files in git; the artifacts/ copies are made every run."""
    if os.environ.get("PORTAL_DOCS_SCREENSHOTS"):
        page.screenshot(path=str(DOCS / f"portal-{name}.png"), full_page=True)


def status_of(page, code: str) -> str:
    return page.locator(f'[data-testid="timeline"] li[data-stage="{code}"]').get_attribute("data-state")


def enter_code(page, code: str) -> None:
    page.get_by_label(re.compile("Verification code|验证码")).fill(code)
    page.get_by_test_id("verify-code").click()


def test_read_the_draft_and_approve_it_after_the_sms_code(live_server, orders, consumer, browser, sms):
    order, _other = orders
    url = f"{live_server.url}{tracking_url(order)}"
    page = phone(browser)
    response = page.goto(url)
    assert "style-src 'self'" in response.headers["content-security-policy"]
    # The draft: its PDF opens from a link, its image shows; nothing to press but the code.
    draft = page.get_by_test_id("file-link")
    expect(draft).to_contain_text("wardrobe v1.pdf")
    assert page.locator('[data-testid="files"] img').evaluate("img => img.naturalWidth") == 120
    pdf = page.request.get(live_server.url + draft.get_attribute("href"))
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    expect(page.get_by_test_id("approve")).to_have_count(0)
    axe_check(page, "waiting-for-approval")
    to_docs(page, "waiting-for-approval")

    page.get_by_test_id("send-code").click()
    expect(page.get_by_test_id("message")).to_have_attribute("data-code", "code_sent")
    assert sms.sent[-1][0] == consumer.phone and sms.references[-1].startswith("portal-code-")
    enter_code(page, last_code(sms))
    expect(page.get_by_test_id("message")).to_have_attribute("data-code", "verified")
    expect(page.get_by_test_id("session")).to_be_visible()
    approve = page.get_by_test_id("approve")
    box = approve.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 200  # a thumb-sized button
    axe_check(page, "verified")
    to_docs(page, "verified")

    approve.click()
    expect(page.get_by_test_id("message")).to_have_attribute("data-code", "approved")
    assert status_of(page, "design") == "done"
    expect(page.locator('[data-testid="history"] li[data-kind="stage.approve"]')).to_have_count(1)
    axe_check(page, "approved")
    to_docs(page, "approved")
    assert not csp_violations(page.console_messages), page.console_messages


def test_reject_with_a_reason(live_server, orders, browser, sms):
    order, _other = orders
    page = phone(browser)
    page.goto(f"{live_server.url}{tracking_url(order)}")
    page.get_by_test_id("send-code").click()
    enter_code(page, last_code(sms))
    reason = page.get_by_label(re.compile("What should be changed|需要修改"))
    reason.fill("Please make the doors white")
    page.get_by_test_id("reject").click()
    expect(page.get_by_test_id("message")).to_have_attribute("data-code", "rejected")
    assert status_of(page, "design") != "awaiting_approval"
    expect(page.get_by_test_id("rework")).to_contain_text("Please make the doors white")
    axe_check(page, "rejected")
    to_docs(page, "rejected")


def test_a_wrong_code_five_times_locks_it(live_server, orders, browser, sms):
    order, _other = orders
    page = phone(browser)
    page.goto(f"{live_server.url}{tracking_url(order)}")
    page.get_by_test_id("send-code").click()
    code = last_code(sms)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(4):
        enter_code(page, wrong)
        expect(page.get_by_test_id("message")).to_have_attribute("data-code", "code_wrong")
    enter_code(page, wrong)
    expect(page.get_by_test_id("message")).to_have_attribute("data-code", "code_locked")
    axe_check(page, "code-locked")
    enter_code(page, code)  # the right code, too late
    expect(page.get_by_test_id("message")).to_have_attribute("data-code", "code_locked")
    expect(page.get_by_test_id("approve")).to_have_count(0)
    to_docs(page, "code-locked")


def test_the_session_of_another_order_cannot_act_on_this_one(live_server, orders, browser, sms):
    order, other = orders
    page = phone(browser)
    page.goto(f"{live_server.url}{tracking_url(other)}")
    page.get_by_test_id("send-code").click()
    enter_code(page, last_code(sms))
    expect(page.get_by_test_id("approve")).to_have_count(1)  # confirmed for the other order
    mine = f"{live_server.url}{tracking_url(order)}"
    page.goto(mine)
    expect(page.get_by_test_id("approve")).to_have_count(0)  # not for this one
    # Posting the approval anyway (with this page's CSRF token) is refused.
    token = page.locator('input[name="csrfmiddlewaretoken"]').first.get_attribute("value")
    stage_id = page.locator('[data-testid="timeline"] li[data-stage="design"]').get_attribute("id").removeprefix(
        "stage-")
    refused = page.request.post(f"{mine}stages/{stage_id}/approve/", form={"csrfmiddlewaretoken": token},
                                headers={"Referer": mine, "Origin": live_server.url})
    assert refused.status == 403
    page.reload()
    assert status_of(page, "design") == "awaiting_approval"


VISIT_FLOW = {"name": "Measure", "stages": [{"code": "measure", "name": "Measure", "requires_appointment": True}]}


@pytest.fixture
def visit_order(store, consumer, store_manager, technician, technician2):
    from tests.factories.workflows import make_order

    return make_order(store=store, consumer=consumer, definition=VISIT_FLOW, actor=store_manager)


def test_book_a_time_then_move_the_visit(live_server, visit_order, browser, sms):
    page = phone(browser)
    page.goto(f"{live_server.url}{tracking_url(visit_order)}")
    expect(page.get_by_test_id("book")).to_have_count(0)  # times are offered once the phone is confirmed
    page.get_by_test_id("send-code").click()
    enter_code(page, last_code(sms))
    times = page.locator('form.slots input[name="window_start"]')
    expect(times.first).to_be_visible()
    chosen = times.nth(1).get_attribute("value")
    times.nth(1).check()
    axe_check(page, "book")
    page.get_by_test_id("book").click()
    expect(page.get_by_test_id("message")).to_have_attribute("data-code", "booked")
    expect(page.get_by_test_id("visit")).to_have_count(1)
    assert status_of(page, "measure") == "scheduled"

    moves = page.locator('form.slots input[name="window_start"]')
    other = next(i for i in range(moves.count()) if moves.nth(i).get_attribute("value") != chosen)
    moves.nth(other).check()
    page.get_by_test_id("move").click()
    expect(page.get_by_test_id("message")).to_have_attribute("data-code", "moved")
    expect(page.locator('[data-testid="history"] li[data-kind="stage.reschedule"]')).to_have_count(1)
    axe_check(page, "moved")
    assert not csp_violations(page.console_messages), page.console_messages


def test_rate_the_service_and_the_technician(live_server, done_order, browser, sms):
    page = phone(browser)
    page.goto(f"{live_server.url}{tracking_url(done_order)}")
    expect(page.get_by_test_id("rate")).to_have_count(0)  # rating needs the confirmed phone
    page.get_by_test_id("send-code").click()
    enter_code(page, last_code(sms))
    rating = page.get_by_test_id("rating")
    rating.locator('input[name="score"][value="4"]').check(force=True)
    rating.locator(f'input[name="visit_{done_order.job.pk}"][value="5"]').check(force=True)
    page.get_by_label(re.compile("Comment|评论|留言|备注")).fill("Tidy work, a little late")
    axe_check(page, "rate")
    page.get_by_test_id("rate").click()
    expect(page.get_by_test_id("message")).to_have_attribute("data-code", "rated")
    expect(page.get_by_test_id("rating-given")).to_have_attribute("data-score", "4")
    expect(page.get_by_test_id("rating-given")).to_contain_text("Tidy work, a little late")
    axe_check(page, "rated")
    assert not csp_violations(page.console_messages), page.console_messages
