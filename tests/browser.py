"""Shared by the browser tests: Debian's Chromium driven by Playwright, never a downloaded browser
(`playwright install` is not used). `BROWSER_SKIPS` skips a module, with the reason, when Playwright or
/usr/bin/chromium is missing."""

import os
from contextlib import contextmanager

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    expect = sync_playwright = None

BROWSER_SKIPS = [
    pytest.mark.skipif(sync_playwright is None, reason="playwright is not installed (pip install playwright)"),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]


@contextmanager
def browser_page(*, args: tuple[str, ...] = (), init_script: str | None = None, **context_options):
    """A page of Debian's Chromium, headless, started with CHROMIUM_ARGS and `args`, in a new context with
    `context_options` (viewport, locale, java_script_enabled...) and `init_script` run before each page's own
    scripts; a 15 s default timeout; the console's messages collected in `page.console_messages`."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *args])
        try:
            context = browser.new_context(**context_options)
            if init_script:
                context.add_init_script(init_script)
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.console_messages = []
            page.on("console", lambda msg: page.console_messages.append(f"{msg.type}: {msg.text}"))
            yield page
            context.close()
        finally:
            browser.close()


def csp_violations(messages: list[str]) -> list[str]:
    """Console messages of CSP violations (Chromium logs each: "... violates the ... Content Security Policy")."""
    return [m for m in messages if "Content Security Policy" in m]
