"""Shared by the browser tests: Debian's Chromium driven by Playwright, never a downloaded browser
(`playwright install` is not used). `BROWSER_SKIPS` skips a module, with the reason, when Playwright or
/usr/bin/chromium is missing."""

import os

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


def csp_violations(messages: list[str]) -> list[str]:
    """Console messages of CSP violations (Chromium logs each: "... violates the ... Content Security Policy")."""
    return [m for m in messages if "Content Security Policy" in m]
