"""Dragging an exhibit in Chromium (static/filings.js, under the site's Content-Security-
Policy) sends the new order, and the server renumbers it; the Up button does the same
without the drag."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, require_chromium
from tests.web.test_layout_browser import (  # noqa: F401 - fixtures
    live_database,
    seed,
    server,
    sign_in,
)

pytestmark = pytest.mark.browser


def test_dragging_an_exhibit_renumbers_it(server, live_database):  # noqa: F811
    require_chromium()
    pages = seed(server, live_database)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            sign_in(page, server, "lead@example.org")
            expect(page).to_have_url(f"{server}/cases")
            page.goto(f"{server}{pages['filing']}")
            rows = page.locator("#exhibits > li")
            first = rows.nth(0).locator("a.ern").inner_text()
            second = rows.nth(1).locator("a.ern").inner_text()
            rows.nth(1).drag_to(rows.nth(0), target_position={"x": 10, "y": 3})
            expect(page.get_by_text("Exhibits renumbered.")).to_be_visible()
            rows = page.locator("#exhibits > li")
            expect(rows.nth(0).locator("a.ern")).to_have_text(second)
            expect(rows.nth(0).locator(".number")).to_have_text("Anx 1")
            expect(rows.nth(1).locator("a.ern")).to_have_text(first)
            # and back with the button, as without scripts
            rows.nth(1).get_by_role("button", name="Up: Anx 2").click()
            expect(page.locator("#exhibits > li").nth(0).locator("a.ern")).to_have_text(first)
        finally:
            browser.close()
