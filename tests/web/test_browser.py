"""End to end in a real browser: Debian's Chromium, driven by Playwright, against `casefile
serve` (the gunicorn server that ships, tests/live_server.py) on a real (committed) database.

Never run `playwright install`: the browser is the system's /usr/bin/chromium.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import select

from casefile.db import Database
from casefile.logic.cases import cases, ern, members
from casefile.logic.cases.cases import CaseInput
from casefile.logic.cases.members import MemberInput
from casefile.model import (
    Case,
    CaseMember,
    CustodyAction,
    CustodyEntry,
    Evidence,
    EvidenceGrant,
    Forum,
    Role,
    User,
)
from tests.factories import PASSWORD, make_case, make_settings, make_user
from tests.factories import add_member as add_member_to
from tests.live_server import instance_env, serving
from tests.web.test_account_web import burmese

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)"
    if os.environ.get("CASEFILE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"CASEFILE_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def live_database(fresh_database_url: str) -> Iterator[Database]:
    """A database of its own: the server commits for real."""
    database = Database.from_url(fresh_database_url)
    yield database
    database.engine.dispose()


@contextmanager
def casefile_serve(database_url: str, tmp_path: Path, **settings: Any) -> Iterator[str]:
    """`casefile serve` on an instance of its own with these settings; yields its base URL."""
    env = instance_env(make_settings(tmp_path, **settings), database_url, tmp_path)
    with serving(env, tmp_path) as server:
        yield server.url


@pytest.fixture
def server(live_database: Database, fresh_database_url: str, tmp_path: Path) -> Iterator[str]:
    del live_database  # made first: the test adds its users before the browser signs in
    with casefile_serve(fresh_database_url, tmp_path) as url:
        yield url


class Problems(list[str]):
    """What the browser reports going wrong: script errors, CSP violations, failed loads."""

    expected: tuple[str, ...] = ()  # addresses whose 4xx answer the test expects

    def watch(self, page: Page, expected: tuple[str, ...] = ()) -> None:
        self.expected = expected
        page.on("console", lambda message: self.console(message.type, message.text))
        page.on("pageerror", lambda error: self.append(str(error)))
        page.on("response", lambda response: self.response(response.status, response.url))

    def console(self, kind: str, message: str) -> None:
        # A CSP violation (an inline script or style) is logged as a console error; failed
        # loads are reported with their address by response().
        if kind == "error" and not message.startswith("Failed to load resource"):
            self.append(message)

    def response(self, status: int, url: str) -> None:
        if status >= 400 and not url.endswith(("/favicon.ico", *self.expected)):
            self.append(f"{status} {url}")  # the browser asks for the icon on its own


def open_page(
    browser: Browser, problems: Problems, *, width: int = 1200, expected: tuple[str, ...] = (),
    **options: Any,
) -> Page:
    """A page in English at `width` by 900 px, the tests' timeout, its problems watched."""
    page = browser.new_page(viewport={"width": width, "height": 900}, locale="en-GB", **options)
    page.set_default_timeout(TIMEOUT_MS)
    problems.watch(page, expected=expected)
    return page


def sign_in(page: Page, server: str, email: str) -> None:
    page.goto(f"{server}/login")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server}/cases")
    expect(page.get_by_role("heading", name="My cases")).to_be_visible()


def create_case(page: Page, server: str) -> str:
    page.get_by_role("link", name="New case").click()
    expect(page).to_have_url(f"{server}/cases/new")
    page.fill("#title", "Clearance operations in northern Rakhine")
    page.select_option("#forum", "icc")
    page.fill("#reference", "ICC-01/19")
    page.fill("#ern_pattern", "MMR-OTP-{batch:04d}-{seq:04d}")
    page.fill("#languages", "en my")
    page.get_by_role("button", name="Create case").click()
    expect(page).to_have_url(re.compile(re.escape(server) + r"/cases/[0-9a-f-]{36}$"))
    expect(page.get_by_text("Case created.")).to_be_visible()
    return page.url


def add_member(page: Page, email: str, role: str) -> None:
    form = page.locator("form[action$='/members']")
    form.locator("input[name=email]").fill(email)
    form.locator("select[name=role]").select_option(role)
    form.get_by_role("button", name="Add member").click()
    expect(page.get_by_text("Member added.")).to_be_visible()
    expect(page.get_by_role("cell", name=email)).to_be_visible()


def switch_to_burmese(page: Page) -> None:
    url = page.url
    page.select_option("#locale", "my")
    page.locator("form.language button[type=submit]").click()
    expect(page).to_have_url(url)
    expect(page.locator("html")).to_have_attribute("lang", "my")


def test_sign_in_create_case_add_member_and_switch_to_burmese(
    server: str, live_database: Database, tmp_path: Path
) -> None:
    require_chromium()
    with live_database.sessions() as session:
        make_user(session, "lead@example.org", admin=True)
        make_user(session, "investigator@example.org")
    screenshot = tmp_path / "case-in-burmese.png"

    problems = Problems()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = open_page(browser, problems)
            sign_in(page, server, "lead@example.org")
            create_case(page, server)
            add_member(page, "investigator@example.org", "investigator")
            switch_to_burmese(page)
            expect(page.get_by_role("heading", name=burmese("Members"))).to_be_visible()
            expect(page.get_by_role("button", name=burmese("Add member"))).to_be_visible()
            expect(page.get_by_role("link", name=burmese("Cases"), exact=True)).to_be_visible()
            page.screenshot(path=str(screenshot), full_page=True)
            page.close()
        finally:
            browser.close()

    assert problems == [], problems
    with live_database.sessions() as session:
        [case] = session.scalars(select(Case)).all()
        members = {
            member.user.email: member.role
            for member in session.scalars(select(CaseMember).where(CaseMember.case_id == case.id))
        }
        assert members == {
            "lead@example.org": Role.LEAD,
            "investigator@example.org": Role.INVESTIGATOR,
        }
        lead = session.scalars(select(User).where(User.email == "lead@example.org")).one()
        assert lead.locale == "my"
    assert screenshot.stat().st_size > 10_000


WATCH_PROGRESS = """() => {
  const list = document.getElementById("upload-progress");
  new MutationObserver(() => {
    list.querySelectorAll("li").forEach(
      (li) => window.casefileSeen(li.className + "|" + li.innerText));
  }).observe(list, { subtree: true, childList: true, characterData: true, attributes: true });
}"""


@pytest.fixture
def upload_server(
    live_database: Database, fresh_database_url: str, tmp_path: Path
) -> Iterator[str]:
    """As `server`, but files over 1 MiB go through the page's resumable (tus) path."""
    del live_database
    with casefile_serve(fresh_database_url, tmp_path, tus_threshold_mb=1) as url:
        yield url


def test_the_upload_page_sends_files_directly_and_resumably_and_speaks_burmese(
    upload_server: str, live_database: Database, tmp_path: Path
) -> None:
    require_chromium()
    with live_database.sessions() as session:
        make_user(session, "lead@example.org")
    small = tmp_path / "statement.txt"
    small.write_text("Witness statement W-12, taken in Kutupalong.\n")
    large = tmp_path / "drone-footage.bin"
    large.write_bytes(os.urandom(2 * 1024 * 1024 + 17))  # over the 1 MiB threshold: tus

    problems = Problems()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = open_page(browser, problems)
            sign_in(page, upload_server, "lead@example.org")
            case_url = create_case(page, upload_server)
            page.goto(f"{case_url}/evidence")
            switch_to_burmese(page)
            # Watch the progress rows as they change.
            seen: list[str] = []
            page.expose_function("casefileSeen", lambda text: seen.append(text))  # noqa: PLW0108 - Playwright needs a Python function, not a builtin
            page.evaluate(WATCH_PROGRESS)
            send_files(page, [small, large])
            # Listed once every file is done, in place.
            expect(page.locator("#evidence-items")).to_contain_text("statement.txt")
            page.close()
        finally:
            browser.close()

    assert problems == [], problems
    # Each row ends with its item's ERN; the resumable one said, in Burmese, that it was
    # uploading on the way.
    done = [text.removeprefix("done|").strip() for text in seen if text.startswith("done|")]
    assert any(text.startswith("statement.txt — MMR-OTP-0001-") for text in done), seen
    drone = [text.strip() for text in seen if "drone-footage.bin" in text]
    # The label, then how far it is ("... %" and megabytes, in Burmese digits).
    assert any(
        text.startswith(f"|drone-footage.bin — {burmese('uploading')} ") and "MB" in text
        for text in drone
    ), drone
    assert any(text.startswith("drone-footage.bin — MMR-OTP-0001-") for text in done), drone
    with live_database.sessions() as session:
        sizes = sorted(item.size for item in session.scalars(select(Evidence)))
    assert sizes == sorted([small.stat().st_size, large.stat().st_size])


def send_files(page: Page, files: list[Path]) -> None:
    """Choose the files, press Upload, and wait until the page says how it went."""
    page.set_input_files("#file", [str(path) for path in files])
    page.locator("#upload-form button[type=submit]").click()
    expect(page.locator("#upload-summary.flash")).to_be_visible()
    expect(page.locator("#upload-form button[type=submit]")).to_be_enabled()


WATCH_UPLOAD = """() => {
  const form = document.getElementById("upload-form");
  const button = form.querySelector("button[type=submit]");
  new MutationObserver(() => {
    window.casefileSeen("button|" + button.disabled);
    form.querySelectorAll("#upload-progress li").forEach(
      (li) => window.casefileSeen("row|" + li.innerText));
  }).observe(form, { subtree: true, childList: true, characterData: true, attributes: true });
}"""


def test_the_upload_summary_stays_on_screen_and_progress_says_percent_and_mb(
    server: str, live_database: Database, tmp_path: Path
) -> None:
    require_chromium()
    with live_database.sessions() as session:
        make_user(session, "lead@example.org")
    statement, footage, copy = (tmp_path / name for name in
                                ("statement.txt", "footage.bin", "statement-copy.txt"))
    statement.write_text("Witness statement W-12, taken in Kutupalong.\n")
    footage.write_bytes(os.urandom(1_500_000))
    copy.write_bytes(statement.read_bytes())  # the same bytes: already in the case

    problems = Problems()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = open_page(browser, problems)
            sign_in(page, server, "lead@example.org")
            case_url = create_case(page, server)
            page.goto(f"{case_url}/evidence")
            seen: list[str] = []
            page.expose_function("casefileSeen", lambda text: seen.append(text))  # noqa: PLW0108 - Playwright needs a Python function, not a builtin
            page.evaluate(WATCH_UPLOAD)
            page.evaluate("window.casefileSamePage = true")
            send_files(page, [statement, footage, copy])
            summary = page.locator("#upload-summary")
            page.wait_for_timeout(2000)
            # Still there two seconds later, on the same page (no reload).
            expect(summary).to_be_visible()
            assert page.evaluate("window.casefileSamePage") is True
            expect(summary).to_contain_text("2 files added.")
            expect(summary).to_contain_text("1 was already in the case:")
            link = summary.get_by_role("link", name="MMR-OTP-0001-0001")
            expect(link).to_have_attribute("href", re.compile(r"^/evidence/[0-9a-f-]{36}$"))
            expect(summary).to_contain_text("statement-copy.txt")
            # The list above was refreshed in place: both new items are in it.
            items = page.locator("#evidence-items")
            expect(items).to_contain_text("MMR-OTP-0001-0002")
            expect(items).to_contain_text("footage.bin")
            expect(page.locator("#upload-form button[type=submit]")).to_be_enabled()
            link.click()
            heading = page.get_by_role("heading", name=re.compile("MMR-OTP-0001-0001"))
            expect(heading).to_be_visible()
            page.close()
        finally:
            browser.close()

    assert problems == [], problems
    buttons = [text for text in seen if text.startswith("button|")]
    assert "button|true" in buttons, buttons  # held while the files were sent
    rows = [text.removeprefix("row|") for text in seen if text.startswith("row|")]
    assert any(re.search(r"^footage\.bin .*\b100 % · 1\.5 of 1\.5 MB$", row.strip())
               for row in rows), rows
    with live_database.sessions() as session:
        assert len(session.scalars(select(Evidence)).all()) == 2


PASTE = """(input, text) => {
  const data = new DataTransfer();
  data.setData("text/plain", text);
  input.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true }));
}"""


def test_the_upload_form_fields_reach_the_item(
    server: str, live_database: Database, tmp_path: Path
) -> None:
    require_chromium()
    with live_database.sessions() as session:
        make_user(session, "lead@example.org")
    statement = tmp_path / "statement.txt"
    statement.write_text("Witness statement W-12, taken in Kutupalong.\n")
    digest = hashlib.sha256(statement.read_bytes()).hexdigest()

    problems = Problems()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = open_page(browser, problems, timezone_id="Asia/Yangon")
            sign_in(page, server, "lead@example.org")
            case_url = create_case(page, server)
            page.goto(f"{case_url}/evidence")
            # The time zone offered is the browser's (Yangon: UTC+06:30).
            expect(page.locator("#collected_offset")).to_have_value("+06:30")
            page.fill("#title", "Statement of W-12")
            page.fill("#description", "Taken in the camp,\nsigned.")
            expect(page.locator("#description-count")).to_have_text("26 / 20,000 characters")
            # A paste longer than the limit: the browser keeps what fits, the page says so.
            cut = page.get_by_text("What you pasted was longer than 20,000 characters")
            expect(cut).to_be_hidden()
            page.locator("#description").evaluate(PASTE, "p" * 20001)
            expect(cut).to_be_visible()
            page.fill("#collected_at", "2017-08-30T09:15")
            page.fill("#source", "WhatsApp from witness W-12, forwarded by the camp coordinator")
            page.fill("#declared_sha256", digest.upper())
            send_files(page, [statement])
            expect(page.locator("#upload-summary")).to_contain_text("1 file added.")
            page.locator("#evidence-items").get_by_role("link", name="MMR-OTP-0001-0001").click()
            expect(page.get_by_role("heading", name="MMR-OTP-0001-0001: Statement of W-12"))\
                .to_be_visible()
            facts = page.locator("dl.facts")
            expect(facts).to_contain_text(digest)  # the declared SHA-256, beside the computed
            expect(page.locator("dl.details")).to_contain_text("August 30, 2017, 2:45:00")
            expect(page.locator("dl.details")).to_contain_text("9:15:00 AM (UTC+06:30)")
            expect(page.locator("dl.details")).to_contain_text("forwarded by the camp coordinator")
            expect(page.get_by_text("Declared hash mismatch")).to_have_count(0)
            page.close()
        finally:
            browser.close()
    assert problems == [], problems
    with live_database.sessions() as session:
        [item] = session.scalars(select(Evidence)).all()
        assert item.declared_hashes == {"sha256": digest}


def test_a_refused_field_stops_the_upload_and_is_marked_by_the_field(
    server: str, live_database: Database, tmp_path: Path
) -> None:
    require_chromium()
    with live_database.sessions() as session:
        make_user(session, "lead@example.org")
    statement = tmp_path / "statement.txt"
    statement.write_text("Witness statement W-12.\n")
    other = tmp_path / "other.txt"
    other.write_text("Witness statement W-13.\n")

    problems = Problems()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = open_page(browser, problems, expected=("/evidence",))  # the API 422s on purpose
            sign_in(page, server, "lead@example.org")
            case_url = create_case(page, server)
            page.goto(f"{case_url}/evidence")
            page.fill("#title", "Statement of W-12")
            page.fill("#declared_md5", "abc")
            send_files(page, [statement, other])
            box = page.locator(".field.invalid", has=page.locator("#declared_md5"))
            expect(box).to_contain_text("md5 must be 32 hex digits")
            expect(page.locator("#upload-summary")).to_contain_text("The files were not sent")
            expect(page.locator("#title")).to_have_value("Statement of W-12")
            expect(page.locator("#upload-progress li")).to_have_count(1)  # the second not sent
            page.close()
        finally:
            browser.close()
    assert problems == [], problems
    with live_database.sessions() as session:
        assert session.scalars(select(Evidence)).all() == []


@pytest.mark.parametrize("width", [1280, 390])
def test_long_unbroken_text_never_widens_the_page(
    width: int, server: str, live_database: Database, tmp_path: Path
) -> None:
    require_chromium()
    with live_database.sessions() as session:
        make_user(session, "lead@example.org")
    named = tmp_path / ("n" * 200 + ".txt")
    named.write_text("Witness statement W-12.\n")

    problems = Problems()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = open_page(browser, problems, width=width)
            sign_in(page, server, "lead@example.org")
            case_url = create_case(page, server)
            page.goto(f"{case_url}/evidence")
            # Every field at its limit, each one unbroken string (50,000 characters in all).
            page.fill("#title", "T" * 500)
            page.fill("#description", "D" * 20000)
            expect(page.locator("#description-count")).to_have_text("20,000 / 20,000 characters")
            for name in ("collected_by", "location", "source"):
                page.fill(f"#{name}", name[0].upper() * 2000)
            send_files(page, [named])
            expect(page.locator("#upload-summary")).to_contain_text("1 file added.")
            wide = "document.documentElement.scrollWidth <= window.innerWidth"
            assert page.evaluate(wide), page.evaluate("document.documentElement.scrollWidth")
            page.goto(f"{case_url}/evidence")
            assert page.evaluate(wide), page.evaluate("document.documentElement.scrollWidth")
            page.locator("#evidence-items").get_by_role("link", name="MMR-OTP-0001-0001").click()
            expect(page.locator("p.prose")).to_contain_text("D" * 100)
            assert page.evaluate(wide), page.evaluate("document.documentElement.scrollWidth")
            page.close()
        finally:
            browser.close()
    assert problems == [], problems


def test_a_transfer_names_an_item_and_the_log_reads_as_sentences(
    server: str, live_database: Database, tmp_path: Path
) -> None:
    require_chromium()
    with live_database.sessions() as session:
        make_user(session, "lead@example.org")
    card = tmp_path / "sd-card-image.txt"
    card.write_text("Contents of the SD card handed over in Cox's Bazar.\n")

    problems = Problems()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = open_page(browser, problems)
            sign_in(page, server, "lead@example.org")
            case_url = create_case(page, server)
            page.goto(f"{case_url}/evidence")
            send_files(page, [card])
            expect(page.locator("#evidence-items")).to_contain_text("sd-card-image.txt")

            page.goto(f"{case_url}/activity")
            page.get_by_role("link", name="Record a transfer of physical custody").click()
            expect(page).to_have_url(f"{case_url}/transfers")
            page.fill("#from_party", "Investigator K.")
            page.fill("#to_party", "Evidence unit, The Hague")
            page.fill("#when", "2026-11-20T09:30")
            page.fill("#reason", "original SD card for forensic imaging")
            page.fill("#seal_number", "CF-SEAL-00042")
            page.get_by_label(re.compile(r"MMR-OTP-0001-0001")).check()
            page.get_by_role("button", name="Record transfer").click()

            # Back on the log, after a redirect: the result at the top, the entry a sentence.
            expect(page).to_have_url(f"{case_url}/activity")
            expect(page.get_by_text("Transfer of custody recorded for 1 item.")).to_be_in_viewport()
            sentence = "recorded that Investigator K. handed MMR-OTP-0001-0001 to Evidence unit"
            expect(page.get_by_text(re.compile(sentence))).to_be_visible()
            row = page.locator("tr[data-action=custody_transferred]")
            raw = row.locator("details.raw pre")
            expect(raw).to_be_hidden()  # the recorded JSON is behind a disclosure
            row.locator("details.raw summary").click()
            expect(raw).to_contain_text('"seal_number": "CF-SEAL-00042"')

            # On a 390 px phone the log is read down the page, not scrolled sideways.
            page.set_viewport_size({"width": 390, "height": 844})
            wrap = page.locator(".table-wrap").first
            assert wrap.evaluate("el => el.scrollWidth <= el.clientWidth")
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

            # The item's own chain of custody shows the transfer too.
            row.get_by_role("link", name="Open MMR-OTP-0001-0001").click()
            expect(page.get_by_text(re.compile(sentence))).to_be_visible()
            page.close()
        finally:
            browser.close()
    assert problems == [], problems


def restricted_world(database: Database) -> tuple[str, dict[str, uuid.UUID]]:
    """A case with a lead, an investigator and a viewer: its id and theirs."""
    with database.sessions() as session:
        lead = make_user(session, "lead@example.org")
        investigator = make_user(session, "investigator@example.org")
        viewer = make_user(session, "viewer@example.org")
        case = cases.create_case(
            session,
            lead,
            CaseInput(title="Clearance operations", forum=Forum.ICC,
                      ern_pattern="MMR-OTP-{batch:04d}-{seq:04d}"),
        )
        for user, role in ((investigator, Role.INVESTIGATOR), (viewer, Role.VIEWER)):
            members.add_member(session, lead, case.id, MemberInput(email=user.email, role=role))
        return str(case.id), {"lead": lead.id, "investigator": investigator.id}


def upload_restricted_and_give_the_lead_access(page: Page, case_url: str, file: Path) -> None:
    """As its uploader: the item page's card offers the leads only."""
    page.goto(f"{case_url}/evidence")
    page.set_input_files("#file", [str(file)])
    page.locator("#upload-form select[name=sensitivity]").select_option("restricted")
    page.locator("#upload-form button[type=submit]").click()
    expect(page.locator("#upload-summary")).to_contain_text("1 file added.")  # no reload
    page.get_by_role("link", name="MMR-OTP-0001-0001").click()
    card = page.locator("#access")
    expect(card.get_by_role("heading", name="Who can see this item")).to_be_visible()
    expect(card.locator("select option")).to_have_count(1)
    card.get_by_label("Give access to").select_option("lead@example.org")
    card.get_by_role("button", name="Give access").click()
    expect(page.get_by_text("Access given to lead@example.org.")).to_be_in_viewport()
    expect(card.locator("#access-list")).to_contain_text("lead@example.org")


def assert_access_history(database: Database, holders: set[uuid.UUID]) -> None:
    """Who holds a grant now; two grants and one withdrawal, each in the custody log."""
    with database.sessions() as session:
        grants = session.scalars(select(EvidenceGrant)).all()
        assert {grant.user_id for grant in grants} == holders
        actions = [entry.action for entry in session.scalars(
            select(CustodyEntry).order_by(CustodyEntry.seq))]
        assert actions.count(CustodyAction.ACCESS_GRANTED) == 2
        assert actions.count(CustodyAction.ACCESS_REVOKED) == 1


def test_restricted_item_access_is_given_and_withdrawn_on_the_item_page(
    server: str, live_database: Database, tmp_path: Path
) -> None:
    """The uploader gives the lead access to a witness statement; the lead gives a viewer
    access and withdraws it again, each after a confirmation, back on the item page with the
    result at the top; the viewer's list counts the item as hidden before and after."""
    require_chromium()
    case_id, ids = restricted_world(live_database)
    case_url = f"{server}/cases/{case_id}"
    statement = tmp_path / "w17-statement.txt"
    statement.write_text("Statement of witness W-17, Maungdaw.\n")

    problems = Problems()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)

        def as_person(email: str) -> Page:
            context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="en-GB")
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            problems.watch(page)
            sign_in(page, server, email)
            return page

        try:
            upload_restricted_and_give_the_lead_access(
                as_person("investigator@example.org"), case_url, statement
            )

            watcher = as_person("viewer@example.org")
            watcher.goto(f"{case_url}/evidence")
            expect(watcher.locator("#hidden-count")).to_have_text(
                "1 item in this case is hidden from you (restricted); filters do not apply to it.")

            page = as_person("lead@example.org")
            page.goto(f"{case_url}/evidence")
            page.get_by_role("link", name="MMR-OTP-0001-0001").click()
            card = page.locator("#access")
            card.get_by_label("Give access to").select_option("viewer@example.org")
            card.get_by_role("button", name="Give access").click()
            expect(page.get_by_text("Access given to viewer@example.org.")).to_be_in_viewport()
            row = card.locator("#access-list tr", has_text="viewer@example.org")
            expect(row).to_be_visible()

            watcher.reload()
            expect(watcher.locator("#hidden-count")).to_have_count(0)
            watcher.get_by_role("link", name="MMR-OTP-0001-0001").click()
            expect(watcher.locator("h1")).to_contain_text("MMR-OTP-0001-0001")
            expect(watcher.locator("#access")).to_have_count(0)

            confirm = row.get_by_role("button", name="Confirm: withdraw access")
            expect(confirm).to_be_hidden()  # behind a disclosure: one click cannot withdraw
            row.locator("summary", has_text="Withdraw access").click()
            confirm.click()
            expect(page.get_by_text("Access withdrawn.")).to_be_in_viewport()
            expect(card.locator("#access-list")).not_to_contain_text("viewer@example.org")

            watcher.goto(f"{case_url}/evidence")
            expect(watcher.locator("#hidden-count")).to_be_visible()
            expect(watcher.get_by_role("link", name="MMR-OTP-0001-0001")).to_have_count(0)
        finally:
            browser.close()
    assert problems == [], problems
    assert_access_history(live_database, holders={ids["investigator"], ids["lead"]})


LOADED = "img => img.complete && img.naturalWidth > 0"


def page_through_pdf(page: Page) -> None:
    """On a two-page PDF's item page: open the preview, see page 1 as an image, go to page 2."""
    expect(page.locator("iframe")).to_have_count(0)
    preview = page.locator("#pdf-preview")
    preview.locator("summary").click()
    expect(preview.locator("img.fit")).to_be_visible()
    page.wait_for_function(LOADED, arg=preview.locator("img.fit").element_handle())
    expect(preview.get_by_text("Page 1 of 2")).to_be_visible()
    preview.get_by_role("link", name="Next page").click()
    expect(preview.get_by_text("Page 2 of 2")).to_be_visible()
    page.wait_for_function(LOADED, arg=page.locator("#pdf-preview img.fit").element_handle())
    assert "blocked" not in page.content().lower()


def image_fits_its_card(page: Page) -> bool:
    """Open an image item's preview: loaded, inside its card and the window, its proportions
    kept."""
    page.locator("#image-preview summary").click()
    image = page.locator("#image-preview img.fit")
    page.wait_for_function(LOADED, arg=image.element_handle())
    fits = image.evaluate(
        """img => {
          const card = img.closest("section").getBoundingClientRect();
          const box = img.getBoundingClientRect();
          return box.width > 0 && box.left >= card.left - 0.5 && box.right <= card.right + 0.5
            && box.right <= window.innerWidth && Math.abs(box.width / box.height - 1.5) < 0.02;
        }"""
    )
    return bool(fits)


def test_pdf_pages_are_images_and_an_image_fits_its_card(
    server: str, live_database: Database, tmp_path: Path
) -> None:
    """A PDF's preview is its pages as images rendered on the server (the browser's PDF
    viewer is blocked by the CSP), one custody view per page served; a page that cannot be
    rendered says so and is not logged; a large image fits its card on a phone and a desktop."""
    require_chromium()
    from PIL import Image  # noqa: PLC0415
    from reportlab.pdfgen import canvas  # noqa: PLC0415

    with live_database.sessions() as session:
        make_user(session, "lead@example.org")
    statement = tmp_path / "statement.pdf"
    document = canvas.Canvas(str(statement))
    for number in (1, 2):
        document.drawString(72, 720, f"Witness statement W-17, page {number}")
        document.showPage()
    document.save()
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\n" + bytes(range(256)) * 8)
    photo = tmp_path / "panorama.png"
    Image.new("RGB", (2400, 1600), (40, 90, 60)).save(photo)

    problems = Problems()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = open_page(browser, problems, width=1280)
            sign_in(page, server, "lead@example.org")
            case_url = create_case(page, server)
            page.goto(f"{case_url}/evidence")
            page.set_input_files("#file", [str(statement), str(broken), str(photo)])
            page.locator("#upload-form button[type=submit]").click()
            expect(page.locator("#upload-summary")).to_contain_text("3 files added.")
            expect(page.get_by_text("panorama.png", exact=True)).to_be_visible()
            with live_database.sessions() as session:
                ids = {
                    item.original_filename: item.id for item in session.scalars(select(Evidence))
                }

            page.goto(f"{server}/evidence/{ids['statement.pdf']}")
            page_through_pdf(page)

            page.goto(f"{server}/evidence/{ids['broken.pdf']}")
            page.locator("#pdf-preview summary").click()
            expect(page.locator("#pdf-preview .preview-failed")).to_be_visible()
            expect(page.locator("#pdf-preview img.fit")).to_be_hidden()

            for width in (1280, 390):
                page.set_viewport_size({"width": width, "height": 844})
                page.goto(f"{server}/evidence/{ids['panorama.png']}")
                assert image_fits_its_card(page), width
            page.close()
        finally:
            browser.close()

    broken_page = f"{server}/evidence/{ids['broken.pdf']}/pages/1.png"
    assert problems == [f"422 {broken_page}"], problems
    with live_database.sessions() as session:
        viewed = {
            name: [
                json.loads(entry.details).get("page")
                for entry in session.scalars(
                    select(CustodyEntry)
                    .where(CustodyEntry.item_id == item_id,
                           CustodyEntry.action == CustodyAction.VIEWED)
                    .order_by(CustodyEntry.seq)
                )
            ]
            for name, item_id in ids.items()
        }
    assert viewed == {"statement.pdf": [1, 2], "broken.pdf": [], "panorama.png": [None, None]}


def errors_come_into_view(page: Page, server: str, case_id: object) -> list[str]:
    """Refuse, then accept, the add-member form below the fold; the 422 URLs it caused."""
    page.goto(f"{server}/cases/{case_id}")
    form = page.locator("form[action$='/members']")
    expect(form).not_to_be_in_viewport()  # the page is long: the form is below the fold
    form.locator("input[name=email]").fill("not-an-email")
    form.get_by_role("button", name="Add member").click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_be_in_viewport()
    expect(summary.get_by_role("link")).to_contain_text("Email")
    expect(page.locator("input[name=email]")).to_have_value("not-an-email")
    refused = [f"422 {page.url}"]
    summary.get_by_role("link").first.click()
    expect(page.locator("input[name=email]")).to_be_focused()

    page.locator("input[name=email]").fill("newcomer@example.org")
    page.get_by_role("button", name="Add member").click()
    messages = page.locator("#messages")
    expect(messages).to_contain_text("Member added.")
    expect(messages).to_be_focused()
    expect(messages).to_be_in_viewport()
    return refused


def ern_example_is_live(page: Page, server: str) -> None:
    year = dt.datetime.now(dt.UTC).year
    page.goto(f"{server}/cases/new")
    example = page.locator("#ern-example")
    expect(example).to_have_text("CF-000001")
    for pattern in ("MMR-OTP-{batch:04d}-{seq:04d}", "{year}/{seq}", "X_{seq:9d}",
                    "A.{batch}.{seq:02d}-{year:06d}", "{seq:}", "X-{nope}", "{batch}"):
        page.fill("#ern_pattern", pattern)
        expected = ern.example(pattern, year=year)
        expect(example).to_have_text(expected if expected is not None else "—")
    # The builder writes a pattern the server accepts, and the example follows.
    page.fill("#ern_pattern", "")
    page.fill("#ern-prefix", "MMR-OTP")
    page.check("#ern-batch")
    page.select_option("#ern-batch-digits", "3")
    page.select_option("#ern-seq-digits", "4")
    expect(page.locator("#ern_pattern")).to_have_value("MMR-OTP-{batch:03d}-{seq:04d}")
    expect(example).to_have_text("MMR-OTP-001-0001")
    expect(page.locator("#ern-words")).to_have_text(
        "MMR-OTP-[batch number, 3 digits]-[item number, 4 digits]"
    )


def test_errors_come_into_view_on_a_long_page_and_the_ern_example_is_live(
    server: str, live_database: Database
) -> None:
    """The add-member form sits below a long member list: a refusal comes back with the
    error summary scrolled into view and focused, a success with the flash focused at the
    top; the ERN pattern editor's example is the one logic/cases/ern.py produces."""
    require_chromium()
    with live_database.sessions() as session:
        lead = make_user(session, "lead@example.org")
        make_user(session, "newcomer@example.org")
        case = make_case(session, lead, title="Tula Toli")
        for n in range(40):
            person = make_user(session, f"witness-handler-{n:02d}@example.org")
            add_member_to(session, case, lead, person, Role.VIEWER)
        case_id = case.id

    problems = Problems()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 700}, locale="en-GB")
            page.set_default_timeout(TIMEOUT_MS)
            problems.watch(page)
            sign_in(page, server, "lead@example.org")
            refused = errors_come_into_view(page, server, case_id)
            ern_example_is_live(page, server)
            page.close()
        finally:
            browser.close()
    assert [problem for problem in problems if problem not in refused] == [], problems
