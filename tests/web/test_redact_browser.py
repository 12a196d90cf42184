"""The redaction page in a real browser (Chromium through Playwright, against `casefile
serve`): a box drawn with the pointer over a PDF page on a 390 px phone, kept while paging,
listed with its remove button, sent; the redacted file has nothing under it."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import select

from casefile.db import Database
from casefile.model import Derivation, Evidence
from tests.factories import make_user
from tests.vault.test_redaction import (
    SECRET,
    SECRET_BOX,
    assert_black,
    interior,
    pdf_text,
    two_page_pdf,
)
from tests.vault.test_redaction import rendered as render_page
from tests.web.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LOADED,
    Problems,
    create_case,
    live_database,  # noqa: F401 - a fixture
    open_page,
    require_chromium,
    server,  # noqa: F401 - a fixture
    sign_in,
)

pytestmark = pytest.mark.browser


def draw(page, box) -> None:
    """Drag over the page image from the box's top left to its bottom right corner."""
    shown = page.locator("#redact-image").bounding_box()
    assert shown is not None and shown["width"] <= 390
    left = shown["x"] + box.x * shown["width"]
    top = shown["y"] + box.y * shown["height"]
    width, height = box.width * shown["width"], box.height * shown["height"]
    page.mouse.move(left, top)
    page.mouse.down()
    page.mouse.move(left + width / 2, top + height / 2, steps=4)
    page.mouse.move(left + width, top + height, steps=4)
    page.mouse.up()


def upload_as_lead(page, base: str, database: Database, file: Path) -> object:
    """Sign in as the lead, create a case, upload `file`; its item's id."""
    sign_in(page, base, "lead@example.org")
    case_url = create_case(page, base)
    page.goto(f"{case_url}/evidence")
    page.set_input_files("#file", [str(file)])
    page.locator("#upload-form button[type=submit]").click()
    expect(page.locator("#upload-summary")).to_contain_text("1 file added.")
    with database.sessions() as session:
        return session.scalars(select(Evidence)).one().id


def test_draw_a_box_on_a_phone_and_redact(
    server: str,  # noqa: F811
    live_database: Database,  # noqa: F811
    tmp_path: Path,
) -> None:
    require_chromium()
    with live_database.sessions() as session:
        make_user(session, "lead@example.org")
    statement = tmp_path / "statement.pdf"
    statement.write_bytes(two_page_pdf())
    problems = Problems()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = open_page(browser, problems, width=1200)
            original = upload_as_lead(page, server, live_database, statement)

            page.set_viewport_size({"width": 390, "height": 844})
            page.goto(f"{server}/evidence/{original}")
            page.locator("#redact").click()
            expect(page.get_by_role("heading", name="Redact")).to_be_visible()
            image = page.locator("#redact-image")
            page.wait_for_function(LOADED, arg=image.element_handle())
            expect(page.locator("#redact-typed")).to_be_hidden()  # script runs: no typing
            expect(page.get_by_role("link", name="Previous page")).to_be_hidden()
            draw(page, SECRET_BOX)
            expect(page.locator("#redact-boxes li")).to_have_count(1)
            expect(page.locator("#redact-stage .redact-box")).to_have_count(1)
            # Page 2 and back: the box stays in the list, and on page 1 only.
            page.get_by_role("link", name="Next page").click()
            expect(page.locator("#redact-page-label")).to_have_text("Page 2 of 2")
            expect(page.locator("#redact-stage .redact-box")).to_have_count(0)
            expect(page.get_by_role("link", name="Next page")).to_be_hidden()
            expect(page.locator("#redact-boxes li")).to_have_count(1)
            page.get_by_role("link", name="Previous page").click()
            expect(page.locator("#redact-stage .redact-box")).to_have_count(1)
            assert page.locator("html").evaluate("html => html.scrollWidth") <= 390
            page.screenshot(path=str(tmp_path / "redact-390.png"), full_page=True)
            page.select_option("#reason", "witness_identity")
            page.get_by_role("button", name="Make the redacted version").click()
            expect(page.get_by_text("Redacted version made")).to_be_visible()
            expect(page.locator("#derived-from")).to_contain_text("Redacted version of")
            content = page.request.get(page.url.rstrip("/") + "/download").body()
            page.close()
        finally:
            browser.close()
    assert problems == [], problems
    assert SECRET not in pdf_text(content)
    # The box drawn covers the secret (the drawing lands within a pixel or two of it).
    assert_black(interior(render_page(content, 0), SECRET_BOX, margin=6))
    with live_database.sessions() as session:
        made = session.scalars(select(Evidence).where(Evidence.derived_from_id == original)).one()
        assert made.derivation == Derivation.REDACTION
