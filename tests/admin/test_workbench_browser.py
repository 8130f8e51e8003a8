"""A store manager's day in the admin, in a real browser at a tablet's size (Debian's Chromium driven by
Playwright): log in, open the store's day, open the order from its visit, give the visit to another technician,
redeem the consumer's e-voucher at the counter (the code typed), refund part of the deposit, and cancel another
order with a reason; create an order at the counter by the consumer's phone, start and deliver its design draft
(a PDF and a note), book another order's measuring visit and give it to the second technician; a merchant admin
reading the live workflow diagram and reordering a draft's stages. Each
page passes an axe-core check with no serious or critical violation and no
Content-Security-Policy violation. Screenshots go to artifacts/ (and to docs/ with DOCS_SCREENSHOTS=1).

Skips (with the reason) when Playwright is not installed or /usr/bin/chromium is missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser import BROWSER_SKIPS, browser_page, csp_violations, expect
from tests.factories.fieldwork import book_visit, starting_soon
from tests.factories.payments import pay_due_installments
from tests.factories.vouchers import code_of
from tests.factories.workflows import make_order, make_template, pdf_bytes
from vouchers.models import Voucher

try:
    from axe_playwright_python.sync_playwright import Axe
except ImportError:  # pragma: no cover - depends on the machine
    Axe = None

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [*BROWSER_SKIPS, pytest.mark.skipif(Axe is None, reason="axe-playwright-python is not installed")]


@pytest.fixture
def world(store, consumer, consumer2, store_manager, technician, technician2):
    """Made before the browser starts (Playwright's sync API runs an event loop in this thread, where Django
    refuses database calls): an order with its deposit paid and its measuring visit today, and another order."""
    order = make_order(store=store, consumer=consumer, actor=store_manager)
    pay_due_installments(order)
    visit = starting_soon(book_visit(order=order, code="measuring", consumer=consumer, technician=technician,
                                     manager=store_manager))
    other = make_order(store=store, consumer=consumer2, actor=store_manager)
    return {"order": order, "visit": visit, "other": other, "manager": store_manager, "technician2": technician2,
            "code": code_of(Voucher.objects.get(stage=visit.stage))}


TABLET = {"viewport": {"width": 820, "height": 1180}, "device_scale_factor": 1, "has_touch": True}


@pytest.fixture
def tablet_page():
    with browser_page(**TABLET) as page:
        yield page


def serious(page) -> list[str]:
    """axe-core's serious and critical violations on the page (rule id and the first offending element). What axe
    itself logs while it runs (it applies inline styles, which the CSP refuses) is not the page's and is dropped."""
    seen = len(page.console_messages)
    results = Axe().run(page)
    del page.console_messages[seen:]
    return [f"{v['id']}: {v['nodes'][0]['html'][:120]}" for v in results.response["violations"]
            if v.get("impact") in ("serious", "critical")]


def shot(page, name: str, element=None) -> None:
    """The page (or one element of it) as artifacts/<name>, and docs/<name> with DOCS_SCREENSHOTS=1."""
    (ROOT / "artifacts").mkdir(exist_ok=True)
    folders = [ROOT / "artifacts", *([ROOT / "docs"] if os.environ.get("DOCS_SCREENSHOTS") else [])]
    for folder in folders:
        if element is not None:
            element.screenshot(path=str(folder / name))
        else:
            page.screenshot(path=str(folder / name), full_page=True)


def success(page):
    return expect(page.locator("ul.messagelist li.success"))


@pytest.mark.django_db(transaction=True)
def test_a_store_manager_runs_the_day_from_the_admin(live_server, world, tablet_page):
    page, order = tablet_page, world["order"]
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", world["manager"].username)
    page.fill("#id_password", "demo-pass-123")
    page.click("input[type=submit]")

    # the home page opens the store's day
    page.get_by_test_id("day-link").click()
    expect(page.get_by_test_id("day-page")).to_be_visible()
    visits = page.locator('[data-testid="visits-today"], [data-testid="visits-tomorrow"]')
    expect(visits.get_by_text(order.number)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 820  # fits the tablet
    assert serious(page) == []
    shot(page, "admin-day.png")

    # the order from its visit
    visits.get_by_text(order.number).click()
    expect(page.get_by_test_id("order-state")).to_have_text("Measuring on site: Scheduled")
    assert serious(page) == []

    # give the visit to another technician
    page.get_by_test_id(f"assign-{world['visit'].pk}").click()
    page.select_option("#id_technician", str(world["technician2"].pk))
    page.get_by_test_id("confirm").click()
    success(page).to_be_visible()
    expect(page.get_by_test_id("visit-technician")).to_have_text(world["technician2"].display_name)

    # the consumer shows the e-voucher at the counter: the code typed in
    page.get_by_test_id("redeem").click()
    assert serious(page) == []
    page.fill("#id_code", world["code"])
    page.get_by_test_id("confirm").click()
    success(page).to_be_visible()
    expect(page.locator('[data-testid="vouchers"] tbody tr')).to_have_attribute("data-state", "redeemed")

    # refund part of the deposit
    page.locator('[data-testid^="refund-"]').first.click()
    page.fill("#id_amount", "100.00")
    page.fill("#id_reason", "Goodwill: late visit")
    page.get_by_test_id("confirm").click()
    success(page).to_be_visible()
    expect(page.locator('[data-testid="refunds"] tbody tr').first).to_contain_text("100.00 CNY")
    expect(page.locator('[data-testid="payments"] tbody tr').first).to_have_attribute("data-status",
                                                                                      "partially_refunded")
    assert serious(page) == []
    shot(page, "admin-order.png")

    # cancel another order, with a reason
    page.goto(f"{live_server.url}/admin/workflows/serviceorder/{world['other'].pk}/change/")
    page.get_by_test_id("cancel-order").click()
    page.fill("#id_reason", "The consumer changed their mind")
    page.get_by_test_id("confirm").click()
    success(page).to_be_visible()
    expect(page.get_by_test_id("order-status")).to_have_attribute("data-status", "cancelled")
    expect(page.get_by_test_id("timeline").locator('li[data-kind="stage.cancel"]')).to_contain_text(
        "The consumer changed their mind")
    assert not csp_violations(page.console_messages), page.console_messages


@pytest.fixture
def studio(merchant, store, consumer, merchant_admin):
    from workflows import services

    template = make_template(merchant=merchant, stores=[store])
    for _ in range(2):
        make_order(store=store, consumer=consumer, template=template)
    paid = make_order(store=store, consumer=consumer, template=template)
    pay_due_installments(paid)
    with_draft = make_template(merchant=merchant, stores=[store], name="Sofa delivery")
    draft = services.template_draft(with_draft)
    return {"version": template.versions.get(), "draft": draft, "admin": merchant_admin}


@pytest.mark.django_db(transaction=True)
def test_a_merchant_admin_reads_the_live_diagram_and_reorders_a_draft(live_server, studio, tablet_page):
    page = tablet_page
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", studio["admin"].username)
    page.fill("#id_password", "demo-pass-123")
    page.click("input[type=submit]")

    page.goto(f"{live_server.url}/admin/workflows/templateversion/{studio['version'].pk}/change/")
    flow = page.get_by_test_id("live-flow")
    expect(flow.locator('g[data-stage="booking"]')).to_have_attribute("data-live", "2")
    expect(flow.locator('g[data-stage="measuring"]')).to_have_attribute("data-live", "1")
    assert serious(page) == []
    shot(page, "admin-studio.png", element=flow)
    flow.locator('g[data-stage="booking"] a').click()  # the count lists those orders
    expect(page.locator("#result_list tbody tr")).to_have_count(2)

    page.goto(f"{live_server.url}/admin/workflows/templateversion/{studio['draft'].pk}/change/")
    page.get_by_test_id("reorder").click()
    page.get_by_test_id("down-booking").click()
    success(page).to_be_visible()
    codes = page.locator('[data-testid="stage-order"] li').evaluate_all("els => els.map(e => e.dataset.stage)")
    assert codes[:2] == ["measuring", "booking"]
    assert serious(page) == []
    assert not csp_violations(page.console_messages), page.console_messages


DESIGN_THEN_VISIT = {"name": "Design then measure", "stages": [
    {"code": "design", "name": "Design draft", "requires_approval": True},
    {"code": "measure", "name": "Measuring visit", "requires_appointment": True}]}
VISIT_ONLY = {"name": "Measuring only", "stages": [
    {"code": "measure", "name": "Measuring visit", "requires_appointment": True}]}


@pytest.fixture
def counter(store, consumer, store_manager, technician, technician2, merchant):
    """Made before the browser starts: a template whose first step is the design (for an order created at the
    counter), and an order whose measuring visit is to book."""
    template = make_template(merchant=merchant, stores=[store], definition=DESIGN_THEN_VISIT)
    to_book = make_order(store=store, consumer=consumer, actor=store_manager, definition=VISIT_ONLY)
    return {"template": template, "to_book": to_book, "manager": store_manager, "technician2": technician2}


@pytest.mark.django_db(transaction=True)
def test_a_store_manager_creates_an_order_delivers_the_draft_and_books_a_visit(live_server, counter, tablet_page,
                                                                              tmp_path, store):
    page = tablet_page
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", counter["manager"].username)
    page.fill("#id_password", "demo-pass-123")
    page.click("input[type=submit]")

    # a consumer at the counter: a new order by their phone
    page.goto(f"{live_server.url}/admin/workflows/serviceorder/")
    page.get_by_test_id("new-order").click()
    page.select_option("#id_store", str(store.pk))
    page.select_option("#id_template", str(counter["template"].pk))
    page.fill("#id_phone", "139 1234 5678")
    page.fill("#id_name", "Wang Fang")
    page.fill("#id_total_amount", "8000.00")
    page.fill("#id_service_address", "1 Huaihai Road, Shanghai")
    page.fill("#id_latitude", "31.2")
    page.fill("#id_longitude", "121.4")
    assert not serious(page)
    page.get_by_test_id("confirm").click()
    success(page).to_have_count(1)
    expect(page.get_by_test_id("order-page")).to_be_visible()

    # deliver the design draft: a PDF and a note
    draft = tmp_path / "wardrobe-draft.pdf"
    draft.write_bytes(pdf_bytes())
    page.get_by_test_id("start-design").click()  # the designer starts on it
    page.get_by_test_id("confirm").click()
    success(page).to_have_count(1)
    page.get_by_test_id("submit-design").click()
    page.set_input_files("#id_files", str(draft))
    page.fill("#id_notes", "Oak doors, two drawers")
    page.get_by_test_id("confirm").click()
    success(page).to_have_count(1)
    expect(page.locator('[data-testid="stages"]')).to_contain_text("wardrobe-draft.pdf")
    assert not serious(page)

    # another order: book its measuring visit, then give it to the second technician
    page.goto(f"{live_server.url}/admin/workflows/serviceorder/{counter['to_book'].pk}/change/")
    page.get_by_test_id("book-measure").click()
    page.select_option("#id_window_start", index=1)
    page.get_by_test_id("confirm").click()
    success(page).to_have_count(1)
    page.locator('[data-testid^="assign-"]').first.click()
    page.select_option("#id_technician", str(counter["technician2"].pk))
    page.get_by_test_id("confirm").click()
    success(page).to_have_count(1)
    expect(page.get_by_test_id("visit-technician")).to_contain_text(counter["technician2"].display_name)
    assert not serious(page)
    assert not csp_violations(page.console_messages), page.console_messages
