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


def change(database, export_id, **fields) -> None:
    """An export's row changed as a worker would change it."""
    from casefile.model import Export  # noqa: PLC0415

    with database.sessions() as session:
        export = session.get_one(Export, export_id)
        for name, value in fields.items():
            setattr(export, name, value)
        session.commit()


def test_an_age_key_being_typed_survives_an_export_in_progress(server, live_database):  # noqa: F811
    """While an export runs, the export section's list updates in place (static/exports.js
    polling the page) instead of the page reloading every 3 s: an age key half typed into the
    new-export form is still there after several updates and once the export has ended."""
    import datetime as dt  # noqa: PLC0415
    import uuid  # noqa: PLC0415

    from casefile.model import Export, ExportStatus, Filing  # noqa: PLC0415

    require_chromium()
    pages = seed(server, live_database)
    filing_id = uuid.UUID(pages["filing"].rsplit("/", 1)[1])
    with live_database.sessions() as session:  # a run in progress on some worker
        filing = session.get_one(Filing, filing_id)
        now = dt.datetime.now(dt.UTC)
        running = Export(filing_id=filing.id, case_id=filing.case_id,
                         status=ExportStatus.RUNNING, progress_done=0, progress_total=2,
                         stage="signing", attempts=1, started_at=now, heartbeat_at=now)
        session.add(running)
        session.commit()
        running_id = running.id
    typed = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.set_default_timeout(TIMEOUT_MS)
            sign_in(page, server, "lead@example.org")
            expect(page).to_have_url(f"{server}/cases")
            page.goto(f"{server}{pages['filing']}")
            page.evaluate("window.notReloaded = true")
            item = page.locator(f"#export-list li[data-id='{running_id}']")
            expect(item).to_have_attribute("data-status", "running")
            expect(page.locator("#export-updating")).to_be_visible()
            field = page.locator("#age_recipients")
            field.click()
            field.press_sequentially(typed[:30])
            change(live_database, running_id, progress_done=1,  # progress: the list shows it
                   heartbeat_at=dt.datetime.now(dt.UTC))
            expect(item.locator("progress")).to_have_attribute("value", "1", timeout=15_000)
            page.wait_for_timeout(3500)  # at least one more update
            field.press_sequentially(typed[30:])
            change(live_database, running_id, status=ExportStatus.FAILED,  # the run ends
                   stage="failed", error="stopped for this test",
                   finished_at=dt.datetime.now(dt.UTC))
            expect(item).to_have_attribute("data-status", "failed", timeout=15_000)
            expect(item).to_contain_text("stopped for this test")
            expect(page.locator("#export-progress")).not_to_have_attribute("data-active", "yes")
            assert page.evaluate("window.notReloaded") is True
            expect(field).to_have_value(typed)
            expect(field).to_be_focused()
        finally:
            browser.close()
