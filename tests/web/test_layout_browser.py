"""Every page on a phone (390 px) and a desktop (1280 px), in English and Burmese, in Chromium
against `casefile serve`: nothing wider than the viewport, an ERN on one line, flags and hashes
inside their card, and no serious or critical accessibility violation found by axe-core.

The data is what a real case has: items (one restricted, flagged ones, the collector's full
account), custody entries and a transfer; the pages are read by a lead who is also the
instance administrator, and the sign-in pages by a visitor. axe-core is pinned in
tests/node/package.json and package-lock.json and installed with `npm ci` as for the
tus-js-client test; it is injected into the page by Playwright (the page's CSP allows only its
own scripts, so the checking context bypasses CSP; the CSP users get is unchanged and is
tested in test_headers.py). Screenshots of each page go to $CASEFILE_SHOTS (e.g. /tmp/shots)
when that is set.
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from sqlalchemy import select

from casefile.db import Database
from casefile.model import Role, User
from tests.factories import PASSWORD, add_member, bearer, make_case, make_user
from tests.node.test_tus_js_client import node_modules, require_node
from tests.web.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    TIMEOUT_MS,
    Problems,
    casefile_serve,
    require_chromium,
)

pytestmark = pytest.mark.browser

WIDTHS = {"phone": (390, 844), "desktop": (1280, 900)}
LANGUAGES = {"en": "en-GB", "my": "my"}
SERIOUS = ("serious", "critical")

# Measured in the page: the document's width against the viewport's; each ERN's line boxes
# (an inline element broken across lines has one client rect per line); each flag, hash and
# ERN inside the box of its card (not cut off by it nor pushed past it).
MEASURE = """() => {
  const out = {overflow: null, wrapped: [], outside: []};
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth) {
    const wide = [...document.querySelectorAll("body *")]
      .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
      .slice(0, 5).map((el) => el.tagName.toLowerCase() + "." + el.className);
    out.overflow = doc.scrollWidth + " > " + window.innerWidth + " (" + wide.join(", ") + ")";
  }
  for (const el of document.querySelectorAll(".ern")) {
    if (el.getClientRects().length > 1) { out.wrapped.push(el.textContent.trim()); }
  }
  for (const el of document.querySelectorAll(".card .flag, .card .hash-box, .card .ern")) {
    if (!el.getClientRects().length) { continue; }  // inside a closed disclosure
    const box = el.getBoundingClientRect();
    const card = el.closest(".card").getBoundingClientRect();
    if (box.left < card.left - 1 || box.right > card.right + 1 || box.right > window.innerWidth) {
      out.outside.push(el.className + " " + el.textContent.trim().slice(0, 40));
    }
  }
  return out;
}"""

AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + ": " + n.failureSummary),
  }));
}"""


@pytest.fixture
def live_database(fresh_database_url: str) -> Iterator[Database]:
    database = Database.from_url(fresh_database_url)
    yield database
    database.engine.dispose()


@pytest.fixture
def server(live_database: Database, fresh_database_url: str, tmp_path: Path) -> Iterator[str]:
    del live_database
    with casefile_serve(fresh_database_url, tmp_path) as url:
        yield url


def seed(server: str, database: Database) -> dict[str, str]:
    """A case with items, custody entries and a transfer; the paths of the pages to check."""
    with database.sessions() as session:
        lead = make_user(session, "lead@example.org", admin=True)
        member = make_user(session, "investigator@example.org")
        make_user(session, "second-factor@example.org")
        case = make_case(session, lead, "Clearance operations in northern Rakhine")
        add_member(session, case, lead, member, Role.INVESTIGATOR)
        auth = bearer(session, lead)
        case_id = str(case.id)

    def upload(name: str, body: bytes, **fields: str) -> str:
        response = requests.post(
            f"{server}/api/v1/cases/{case_id}/evidence",
            headers=auth,
            data=fields,
            files={"file": (name, io.BytesIO(body))},
            timeout=30,
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    statement = upload(
        "statement.txt",
        b"Witness statement W-12, taken in Kutupalong.\n" * 40,
        title="Witness statement W-12",
        description="Interview notes, Kutupalong",
        collected_by="Field team 3",
        collected_at="2026-11-02T10:00:00+00:00",
        location="Kutupalong camp",
        lat="21.2",
        lon="92.15",
        source="WhatsApp forward",
        original_url="https://example.org/post/1",
        capture_tool="OpenArchive Save",
        language="my",
        consent_notes="consent recorded on tape",
        declared_hashes="md5:" + "0" * 32,
    )
    upload("photo.jpg", b"not a picture at all\n", title="ဓာတ်ပုံ ကူတူပါလောင်")
    upload("empty.txt", b"", title="empty")
    restricted = upload("witness-names.txt", b"names of witnesses\n", sensitivity="restricted")
    transfer = requests.post(
        f"{server}/api/v1/cases/{case_id}/custody/transfers",
        headers=auth,
        json={
            "from": "Investigator K.",
            "to": "Evidence unit, The Hague",
            "when": "2026-11-20T09:30:00+00:00",
            "where": "Cox's Bazar",
            "media": "SD card",
            "reason": "original SD card for forensic imaging",
            "seal_number": "CF-SEAL-00042",
            "item_ids": [statement, restricted],
        },
        timeout=30,
    )
    assert transfer.status_code == 201, transfer.text
    vocabulary = requests.post(
        f"{server}/api/v1/cases/{case_id}/tags",
        headers=auth,
        json={"name": "Arson", "description": "homes and villages burned"},
        timeout=30,
    )
    assert vocabulary.status_code == 201, vocabulary.text
    for tag in ("Arson", "မီးရှို့ခြင်း ကူတူပါလောင် အရှေ့ဘက်"):
        tagged = requests.post(
            f"{server}/api/v1/evidence/{statement}/tags", headers=auth, json={"tag": tag},
            timeout=30,
        )
        assert tagged.status_code == 200, tagged.text
    unit = requests.post(
        f"{server}/api/v1/cases/{case_id}/perpetrators",
        headers=auth,
        json={"name": "33rd Light Infantry Division", "kind": "unit", "affiliation": "Tatmadaw"},
        timeout=30,
    )
    assert unit.status_code == 201, unit.text
    incident = requests.post(
        f"{server}/api/v1/cases/{case_id}/incidents",
        headers=auth,
        json={
            "title": "Burning of Tula Toli and the killing of villagers at the riverbank",
            "narrative": "Soldiers surrounded the village at dawn and set the houses on fire.",
            "start_date": "2017-08-30",
            "end_date": "2017-08-31",
            "location": {"place": "riverbank", "village_ward": "Tula Toli",
                         "township": "Maungdaw", "country": "Myanmar",
                         "lat": 20.94, "lon": 92.39},
            "categories": ["killing", "arson_destruction", "sgbv", "attack_protected_site"],
            "victims": {"count": 300, "group": "Rohingya villagers"},
            "perpetrators": [unit.json()["id"]],
        },
        timeout=30,
    )
    assert incident.status_code == 201, incident.text
    incident_id = incident.json()["id"]
    linked = requests.post(
        f"{server}/api/v1/incidents/{incident_id}/evidence",
        headers=auth,
        json={"evidence_id": statement, "relation": "corroborates",
              "note": "the witness describes the soldiers arriving from the river"},
        timeout=30,
    )
    assert linked.status_code == 201, linked.text
    second = requests.post(
        f"{server}/api/v1/cases/{case_id}/incidents",
        headers=auth,
        json={"title": "Burning of Min Gyi", "start_date": "2017-08-30",
              "date_precision": "approximate",
              "categories": ["arson_destruction", "attack_protected_site", "sgbv"],
              "location": {"place": "Min Gyi (Tula Toli)", "lat": 20.9512, "lon": 92.5634}},
        timeout=30,
    )
    assert second.status_code == 201, second.text
    charged = requests.post(
        f"{server}/api/v1/cases/{case_id}/charges",
        headers=auth,
        json={"framework": "rome-statute", "crime": "7(1)(d)"},
        timeout=30,
    )
    assert charged.status_code == 201, charged.text
    linked = requests.post(
        f"{server}/api/v1/cases/{case_id}/proof-links",
        headers=auth,
        json={
            "charge_id": charged.json()["id"],
            "element": "1",
            "evidence_id": statement,
            "strength": "supports",
            "note": "ရွာမှ အတင်းအကျပ် နှင်ထုတ်ခံရကြောင်း ထွက်ဆိုချက်",
        },
        timeout=30,
    )
    assert linked.status_code == 201, linked.text
    filing = requests.post(
        f"{server}/api/v1/cases/{case_id}/filings",
        headers=auth,
        json={
            "title": "Request under article 15 concerning deportation to Bangladesh",
            "type": "article_15_communication",
            "classification": "confidential",
            "classification_basis": "Regulation 23 bis of the Regulations of the Court",
            "court_document_number": "ICC-01/19-7",
        },
        timeout=30,
    )
    assert filing.status_code == 201, filing.text
    filing_id = filing.json()["id"]
    for item, described in ((statement, {"description": "Interview notes, Kutupalong"}),
                            (restricted, {"description": "ကူတူပါလောင် စခန်း"})):  # the lead
        # uploaded both, so sees both
        added = requests.post(
            f"{server}/api/v1/filings/{filing_id}/exhibits",
            headers=auth,
            json={"evidence_id": item, **described},
            timeout=30,
        )
        assert added.status_code == 201, added.text
    # A finished export on the filing's page (run by the server's own consumer thread).
    exported = requests.post(f"{server}/api/v1/filings/{filing_id}/exports", headers=auth,
                             timeout=30)
    assert exported.status_code == 202, exported.text
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = requests.get(f"{server}/api/v1/exports/{exported.json()['id']}",
                              headers=auth, timeout=30).json()["status"]
        if status not in ("queued", "running"):
            break
        time.sleep(0.5)
    assert status == "done", status
    return {
        "cases": "/cases",
        "case": f"/cases/{case_id}",
        "evidence": f"/cases/{case_id}/evidence",
        "map": f"/cases/{case_id}/map",
        "item": f"/evidence/{statement}",
        "restricted-item": f"/evidence/{restricted}",
        "activity": f"/cases/{case_id}/activity",
        "tags": f"/cases/{case_id}/tags",
        "transfer": f"/cases/{case_id}/transfers",
        "item-edit": f"/evidence/{statement}/edit",
        "new-case": "/cases/new",
        "account": "/account",
        "totp-enrol": "/account/totp",
        "admin": "/admin/users",
        "incidents": f"/cases/{case_id}/incidents",
        "incident": f"/incidents/{incident_id}",
        "incident-new": f"/cases/{case_id}/incidents/new",
        "incident-edit": f"/incidents/{incident_id}/edit",
        "charges": f"/cases/{case_id}/charges",
        "proof-matrix": f"/cases/{case_id}/proof-matrix",
        "proof-link": f"/cases/{case_id}/proof-matrix/links/{linked.json()['id']}",
        "admin-frameworks": "/admin/frameworks",
        # Results with marked matches in both scripts, and the filters open.
        "search": "/search?q=Kutupalong",
        "search-burmese": "/search?q=ကူတူ&kind=evidence",
        "filings": f"/cases/{case_id}/filings",
        "filing": f"/filings/{filing_id}",
        "filing-edit": f"/filings/{filing_id}/edit",
        "new-filing": f"/cases/{case_id}/filings/new",
    }


def set_locale(database: Database, locale: str) -> None:
    with database.sessions() as session:
        for user in session.scalars(select(User)):
            user.locale = locale
        session.commit()


def new_context(browser: Browser, language: str, width: str) -> BrowserContext:
    w, h = WIDTHS[width]
    return browser.new_context(
        viewport={"width": w, "height": h}, locale=LANGUAGES[language], bypass_csp=True
    )


def sign_in(page: Page, server: str, email: str) -> None:
    page.goto(f"{server}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.locator("form button[type=submit]").last.click()


class Report:
    """Everything found, page by page, printed readably at the end."""

    def __init__(self, axe: Path, shots: Path | None) -> None:
        self.axe = axe
        self.shots = shots
        self.problems: list[str] = []
        self.checked = 0

    def check(self, page: Page, name: str, language: str, width: str) -> None:
        where = f"{name} [{language}, {width}]"
        expect(page.locator("html")).to_have_attribute("lang", language)
        page.wait_for_load_state("load")
        measured: dict[str, Any] = page.evaluate(MEASURE)
        if measured["overflow"]:
            self.problems.append(f"{where}: wider than the viewport: {measured['overflow']}")
        for ern in measured["wrapped"]:
            self.problems.append(f"{where}: ERN broken across lines: {ern}")
        for what in measured["outside"]:
            self.problems.append(f"{where}: outside its card: {what}")
        page.add_script_tag(path=str(self.axe))
        for violation in page.evaluate(AXE_RUN):
            if violation["impact"] in SERIOUS:
                nodes = "\n      ".join(violation["nodes"])
                self.problems.append(
                    f"{where}: axe {violation['impact']} {violation['id']}: "
                    f"{violation['help']}\n      {nodes}"
                )
        if self.shots is not None:
            page.screenshot(path=str(self.shots / f"{name}-{language}-{width}.png"), full_page=True)
        self.checked += 1


def test_every_page_fits_phones_and_desktops_in_both_languages_and_passes_axe(
    server: str, live_database: Database
) -> None:
    require_chromium()
    _node, npm = require_node()
    axe = node_modules(npm) / "axe-core" / "axe.min.js"
    assert axe.exists(), axe
    shots = Path(os.environ["CASEFILE_SHOTS"]) if os.environ.get("CASEFILE_SHOTS") else None
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
    pages = seed(server, live_database)
    report = Report(axe, shots)
    problems = Problems()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # The second-factor user turns TOTP on once, in English, for the /login/totp page.
            context = new_context(browser, "en", "desktop")
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            sign_in(page, server, "second-factor@example.org")
            page.goto(f"{server}/account/totp")
            secret = page.locator("code.secret").inner_text().replace(" ", "")
            page.fill("#code", pyotp.TOTP(secret).now())
            page.get_by_role("button", name="Turn on").click()
            expect(page.get_by_role("heading", name="Recovery codes")).to_be_visible()
            report.check(page, "recovery-codes", "en", "desktop")  # shown once, after a POST
            # The checker can fail: a page with an unlabelled field and an image without alt.
            page.set_content(
                '<!doctype html><html lang="en"><title>t</title><main>'
                '<img src="data:,"><input type="text"></main></html>'
            )
            page.add_script_tag(path=str(axe))
            found = {v["id"] for v in page.evaluate(AXE_RUN) if v["impact"] in SERIOUS}
            assert {"image-alt", "label"} <= found, found
            context.close()

            for language in LANGUAGES:
                set_locale(live_database, language)
                for width in WIDTHS:
                    context = new_context(browser, language, width)
                    page = context.new_page()
                    page.set_default_timeout(TIMEOUT_MS)
                    problems.watch(page)
                    page.goto(f"{server}/login")
                    report.check(page, "login", language, width)
                    sign_in(page, server, "second-factor@example.org")
                    expect(page).to_have_url(re.compile(r"/login/totp"))
                    report.check(page, "totp", language, width)
                    context.clear_cookies()
                    sign_in(page, server, "lead@example.org")
                    expect(page).to_have_url(f"{server}/cases")
                    for name, path in pages.items():
                        page.goto(f"{server}{path}")
                        report.check(page, name, language, width)
                    context.close()
        finally:
            browser.close()

    assert report.checked == 2 * 2 * (len(pages) + 2) + 1  # and the recovery codes, once
    assert not report.problems, f"{len(report.problems)} problem(s):\n  " + "\n  ".join(
        report.problems
    )
    assert problems == [], problems
