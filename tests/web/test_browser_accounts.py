"""Issue 11 in a real browser (Chromium through Playwright against `casefile serve`): the
two-factor enrolment page keeps its secret across a reload, the recovery codes download as
text, and a recovery code signs in once in place of an authenticator code."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import expect, sync_playwright

from casefile.db import Database
from tests.factories import PASSWORD, make_user
from tests.web.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Problems,
    live_database,  # noqa: F401 - a fixture
    open_page,
    require_chromium,
    server,  # noqa: F401 - a fixture
    sign_in,
)

pytestmark = pytest.mark.browser


def test_enrolment_survives_a_reload_and_a_recovery_code_signs_in(
    server: str,  # noqa: F811
    live_database: Database,  # noqa: F811
    tmp_path: Path,
) -> None:
    require_chromium()
    with live_database.sessions() as session:
        make_user(session, "witness-officer@example.org")

    problems = Problems()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = open_page(browser, problems)
            sign_in(page, server, "witness-officer@example.org")

            page.goto(f"{server}/account/totp")
            secret = page.locator("code.secret").inner_text().strip()
            code = pyotp.TOTP(secret).now()  # "scanned" before the reload
            page.reload()
            assert page.locator("code.secret").inner_text().strip() == secret
            page.fill("#code", code)
            page.get_by_role("button", name="Turn on").click()

            expect(page.get_by_role("heading", name="Recovery codes")).to_be_visible()
            codes = page.locator("#recovery-codes").inner_text().split()
            assert len(codes) == 10
            with page.expect_download() as download_info:
                page.get_by_role("link", name="Download as text").click()
            saved = tmp_path / "codes.txt"
            download_info.value.save_as(saved)
            assert saved.read_text().split() == codes

            page.get_by_role("button", name="Sign out").click()
            page.fill("#email", "witness-officer@example.org")
            page.fill("#password", PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page).to_have_url(f"{server}/login/totp")
            page.fill("#code", codes[0])
            page.get_by_role("button", name="Continue").click()
            expect(page).to_have_url(f"{server}/cases")
            expect(page.get_by_text("9 recovery codes are left.", exact=False)).to_be_visible()

            page.goto(f"{server}/account")
            expect(page.get_by_text("9 unused recovery codes left.")).to_be_visible()
            page.close()
        finally:
            browser.close()
    assert problems == [], problems
