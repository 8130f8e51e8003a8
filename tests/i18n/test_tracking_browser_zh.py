"""The tracking page in Chinese, the default, on a phone-sized Chromium: the words, the CLDR amounts, nothing
wider than the screen. The screenshot is kept as artifacts/tracking-zh.png; with UPDATE_DOCS_SCREENSHOTS=1 it also
replaces docs/tracking-zh.png (a machine needs a CJK font for it, e.g. Debian's fonts-noto-cjk)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from notifications.services import tracking_url
from tests.browser import BROWSER_SKIPS, CHROMIUM, CHROMIUM_ARGS, csp_violations, expect, sync_playwright
from tests.factories.workflows import make_order

ROOT = Path(__file__).resolve().parents[2]

pytestmark = BROWSER_SKIPS


@pytest.fixture
def order(store, consumer, store_manager):
    return make_order(store=store, consumer=consumer, actor=store_manager)  # made before the browser starts


@pytest.mark.django_db(transaction=True)
def test_the_tracking_page_in_chinese_on_a_phone(live_server, order):
    url = f"{live_server.url}{tracking_url(order)}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                          is_mobile=True, has_touch=True, java_script_enabled=False,
                                          locale="zh-CN")
            page = context.new_page()
            messages: list[str] = []
            page.on("console", lambda msg: messages.append(f"{msg.type}: {msg.text}"))
            page.goto(url)
            expect(page.locator("h1")).to_have_text(f"服务订单 {order.number}")
            expect(page.get_by_test_id("next-action")).to_contain_text("请在下方支付 ¥1,200.00 以继续。")
            expect(page.get_by_test_id("due-total")).to_have_text("¥1,200.00")
            assert page.evaluate("document.documentElement.lang") == "zh-hans"
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            (ROOT / "artifacts").mkdir(exist_ok=True)
            shot = ROOT / "artifacts" / "tracking-zh.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
                shutil.copyfile(shot, ROOT / "docs" / "tracking-zh.png")
            assert csp_violations(messages) == []
            context.close()
        finally:
            browser.close()
